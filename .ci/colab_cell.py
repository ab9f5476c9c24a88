"""Write the Colab cell, the first code cell of every notebook, from _config.yml.

The repository URL is set in one place, `repository.url` in _config.yml; Colab opens a
notebook alone, so the notebook must carry the URL to install dltutor from. This script
puts it there. Run it after changing the URL (tests/test_notebooks.py checks that every
notebook agrees with _config.yml):

    .venv/bin/python .ci/colab_cell.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MARKER = "# Colab only:"


def repository_url() -> str:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return str(config["repository"]["url"]).rstrip("/")


# What a chapter needs beyond what Colab has (NumPy, PyTorch, Keras, scikit-learn,
# TensorBoard): the extras of pyproject.toml to install with dltutor in its notebooks.
CHAPTER_EXTRAS = {"deployment": "deploy"}  # onnx, onnxruntime, onnxscript, safetensors


def colab_cell_source(notebook: Path | None = None) -> str:
    """The cell: in Colab, install dltutor from the repository; anywhere else, nothing.

    A notebook of a chapter listed in ``CHAPTER_EXTRAS`` installs that extra too.
    """
    extra = CHAPTER_EXTRAS.get(notebook.parent.name) if notebook is not None else None
    requirement = f"dltutor[{extra}]" if extra else "dltutor"
    install = f'    %pip install --quiet "{requirement} @ git+{repository_url()}"'
    if len(install) > 79:  # the book's code width: IPython expands {url} in a magic
        install = (
            f'    url = "git+{repository_url()}"\n'
            f'    %pip install --quiet "{requirement} @ {{url}}"'
        )
    return (
        f"{MARKER} install dltutor (Colab has NumPy, PyTorch, Keras).\n"
        "# Anywhere else, this cell does nothing.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f"{install}"
    )


def notebooks() -> list[Path]:
    return sorted(
        p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
    )


def main() -> int:
    for path in notebooks():
        source = colab_cell_source(path)
        notebook = json.loads(path.read_text())
        cells = notebook["cells"]
        cell = {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {"tags": ["remove-cell"]},  # runs in the book build, not shown there
            "outputs": [],
            "source": source.splitlines(keepends=True),
        }
        if len(cells) > 1 and "".join(cells[1]["source"]).startswith(MARKER):
            cells[1] = cell
        else:
            cells.insert(1, cell)
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
        print(f"colab cell: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
