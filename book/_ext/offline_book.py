"""Pages that read the same with no network and no emoji font.

Math: typeset with a MathJax that ships in an installed package, not a CDN.

Sphinx loads MathJax 3 from a CDN by default, so a reader without network
sees raw TeX. The ``django-static-mathjax`` wheel (in the ``book`` extra; it
depends on nothing) holds MathJax 3's browser build. This extension points
``mathjax_path`` at a copy under ``_static/mathjax/`` and copies the build
there when the HTML is written, fonts included.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform

ENTRY = (
    "tex-chtml.js"  # TeX input, HTML+CSS output: Sphinx's default component
)


def mathjax_build() -> Path:
    """The folder of MathJax's browser build inside the installed wheel."""
    try:
        import mathjax  # the import name of django-static-mathjax
    except ImportError as error:
        raise RuntimeError(
            "the book needs MathJax from the package django-static-mathjax: "
            "run `make book`, or pip install -e '.[book]'"
        ) from error
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / ENTRY).is_file():
        raise RuntimeError(
            f"no {ENTRY} in {folder}: reinstall django-static-mathjax"
        )
    return folder


def copy_mathjax(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "mathjax"
        shutil.copytree(mathjax_build(), target, dirs_exist_ok=True)


# myst-nb's execution table marks each notebook with an emoji, an empty box
# in a browser without an emoji font: the status is written as a word instead.
STATUS_WORDS = {"\u2705": "passed", "\u274c": "failed"}


class StatusInWords(SphinxPostTransform):
    """Replace the execution table's status emoji by words."""

    default_priority = (
        9  # after myst-nb builds the table (8), before references resolve (10)
    )

    def run(self, **kwargs: Any) -> None:
        for text in list(self.document.findall(nodes.Text)):
            if str(text) in STATUS_WORDS:
                text.parent.replace(text, nodes.Text(STATUS_WORDS[str(text)]))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_post_transform(StatusInWords)
    mathjax_build()  # fail at the start, not after executing every notebook
    app.config.mathjax_path = f"mathjax/{ENTRY}"  # relative to _static/
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
