"""Notebook hygiene and the chapter skeleton, and the book's references to the package.

Every notebook: committed without outputs, in the table of contents, and of one shape —
a title and what it shows; the Colab cell (installs dltutor in Colab, nothing elsewhere);
a setup cell (imports, ``SEED``, and the device for a framework); one step per ``##``
section, each ending in an assertion; a closing ``## Summary`` that restates what was
shown and links the twin notebooks. Code lines fit
in 79 columns. Every ``literalinclude`` with ``:pyobject:`` and every package object the
book names resolves, so a rename fails ``make test`` rather than ``make book``.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
PAGES = sorted(p for p in (ROOT / "book").rglob("*.md") if "_build" not in p.parts)
IMPLEMENTATIONS = ("from_scratch.ipynb", "pytorch.ipynb", "keras.ipynb")
EXERCISES = "exercises.ipynb"
NOTEBOOK_IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 12  # four chapters of three


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_committed_without_outputs(path: Path) -> None:
    dirty = [
        index
        for index, cell in enumerate(cells(path))
        if cell["cell_type"] == "code"
        and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_in_table_of_contents(path: Path) -> None:
    toc = (ROOT / "_toc.yml").read_text()
    assert str(path.relative_to(ROOT).with_suffix("")) in toc


def test_each_chapter_has_its_three_implementations() -> None:
    for chapter in {p.parent for p in NOTEBOOKS}:
        assert {*IMPLEMENTATIONS, EXERCISES} <= {p.name for p in chapter.glob("*.ipynb")}, chapter
        assert (chapter / "index.md").is_file(), chapter


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_skeleton(path: Path) -> None:
    notebook = cells(path)
    title, setup, summary = notebook[0], notebook[2], notebook[-1]
    assert title["cell_type"] == "markdown" and source(title).startswith("# "), "a title first"
    assert len(source(title).strip().splitlines()) > 2, (
        "the title cell says what the notebook shows"
    )
    assert setup["cell_type"] == "code" and re.search(r"^SEED = \d+$", source(setup), re.M), (
        "setup: SEED"
    )
    if path.name == "pytorch.ipynb":
        assert "get_device()" in source(setup), "setup: the device"
    if path.name == "keras.ipynb":
        assert "get_device()" in source(setup) and "set_seed(SEED)" in source(setup), (
            "setup: seed, device"
        )
    assert summary["cell_type"] == "markdown" and source(summary).startswith("## Summary"), (
        "ends with ## Summary"
    )
    twins = [
        name for name in IMPLEMENTATIONS if name != path.name and (path.parent / name).exists()
    ]
    for twin in twins:
        assert f"]({twin})" in source(summary), f"the summary links {twin}"


def sections(notebook: list[dict]) -> list[tuple[str, list[dict]]]:
    """(heading, cells) for every ## section between the setup and the summary."""
    found: list[tuple[str, list[dict]]] = []
    for cell in notebook[3:-1]:
        heading = (
            re.search(r"^## .*$", source(cell), re.M) if cell["cell_type"] == "markdown" else None
        )
        if heading:
            found.append((heading.group(0), []))
        elif found:
            found[-1][1].append(cell)
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_every_section_ends_in_its_assertion(path: Path) -> None:
    found = sections(cells(path))
    assert found, "the steps are ## sections"
    for heading, body in found:
        code = [cell for cell in body if cell["cell_type"] == "code"]
        assert code, f"{heading!r} has no code"
        assert re.search(r"^\s*(assert |np\.testing\.assert)", source(code[-1]), re.M), (
            f"{heading!r} does not end in an assertion"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NOTEBOOK_IDS)
def test_code_fits_the_page(path: Path) -> None:
    wide = [
        f"cell {index}: {line}"
        for index, cell in enumerate(cells(path))
        if cell["cell_type"] == "code"
        for line in source(cell).splitlines()
        if len(line) > 79
    ]
    assert wide == [], "lines over 79 columns scroll sideways in the book:\n" + "\n".join(wide)


def test_colab_cell_comes_from_the_config() -> None:
    """The repository URL is set once, in _config.yml; .ci/colab_cell.py writes it into the notebooks."""
    sys.path.insert(0, str(ROOT / ".ci"))
    from colab_cell import colab_cell_source, repository_url

    assert repository_url() in colab_cell_source()
    stale = [
        str(path.relative_to(ROOT))
        for path in NOTEBOOKS
        if source(cells(path)[1]) != colab_cell_source(path)
    ]
    assert stale == [], f"run `python .ci/colab_cell.py`: {stale} disagree with _config.yml"


def test_colab_cell_installs_a_chapters_extra() -> None:
    """Colab lacks the export runtimes: the deployment notebooks install dltutor[deploy]."""
    sys.path.insert(0, str(ROOT / ".ci"))
    from colab_cell import colab_cell_source

    cell = colab_cell_source(ROOT / "book/deployment/keras.ipynb")
    assert '"dltutor[deploy] @ {url}"' in cell and 'url = "git+https://' in cell
    assert max(len(line) for line in cell.splitlines()) <= 79
    assert '"dltutor @ git+' in colab_cell_source(ROOT / "book/cnn/keras.ipynb")


def test_colab_cell_acts_only_in_colab() -> None:
    import subprocess
    import sys

    code = source(cells(NOTEBOOKS[0])[1]).replace("%pip", "raise SystemExit('installed')  #")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == "", "outside Colab the cell does nothing"


@pytest.mark.parametrize("chapter", sorted({p.parent for p in NOTEBOOKS}), ids=lambda p: p.name)
def test_every_chapter_has_three_exercises_with_checked_solutions(chapter: Path) -> None:
    notebook = cells(chapter / EXERCISES)
    texts = [source(cell) for cell in notebook]
    exercises = [i for i, text in enumerate(texts) if text.startswith("```{exercise-start}")]
    assert len(exercises) >= 3
    for index in exercises:
        start = next(
            i for i in range(index, len(texts)) if texts[i].startswith("```{solution-start}")
        )
        end = next(i for i in range(start, len(texts)) if texts[i].startswith("```{solution-end}"))
        assert ":class: dropdown" in texts[start], "solutions render collapsed"
        solution_code = [source(c) for c in notebook[start:end] if c["cell_type"] == "code"]
        assert any(
            re.search(r"^\s*(assert |np\.testing\.assert)", code, re.M) for code in solution_code
        ), f"the solution at cell {start} checks its answer"


# --- words for the reader --------------------------------------------------------------

SOURCE = re.compile(r"\bthe source\b(?!\s+(?:code|file))|\bsource's\b", re.I)


@pytest.mark.parametrize(
    "path",
    [*PAGES, *NOTEBOOKS, *sorted((ROOT / "dltutor").rglob("*.py"))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_no_unseen_source(path: Path) -> None:
    text = path.read_text()
    if path.suffix == ".ipynb":
        text = "\n".join(source(cell) for cell in cells(path))
    assert not SOURCE.search(text), (
        "the reader never saw 'the source': name and cite what is adapted"
    )


# A line that starts with "- ", "+ ", "* ", "1. ", "> " or "# " inside inline math ends the
# paragraph and opens a list, a quote or a heading in Markdown: "$a\n+ b$" renders as a
# bullet and two broken formulas.
LIST_START = re.compile(r"^\s*(?:[-+*>]|\d+[.)]|#{1,6})\s")


def math_broken_by_list(text: str) -> list[str]:
    """The lines of ``text`` that start a block while an inline ``$...$`` is open."""
    text = re.sub(r"```.*?```|\$\$.*?\$\$", "", text, flags=re.S)
    broken = []
    for paragraph in re.split(r"\n\s*\n", text):
        inside = False
        for line in paragraph.split("\n"):
            if inside and LIST_START.match(line):
                broken.append(line.strip())
            if re.sub(r"`[^`]*`", "", line).replace(r"\$", "").count("$") % 2:
                inside = not inside
    return broken


def test_math_broken_by_list_finds_the_break() -> None:
    assert math_broken_by_list("a $x\n+ y$ b\n\n- $z$ item") == ["+ y$ b"]
    assert math_broken_by_list("$x +\ny$ and `$`\n- item") == []
    assert math_broken_by_list("$x\n> y$") == ["> y$"]


@pytest.mark.parametrize("path", [*PAGES, *NOTEBOOKS], ids=lambda p: str(p.relative_to(ROOT)))
def test_inline_math_does_not_start_a_list(path: Path) -> None:
    texts = [path.read_text()]
    if path.suffix == ".ipynb":
        texts = [source(c) for c in cells(path) if c["cell_type"] == "markdown"]
    broken = [line for text in texts for line in math_broken_by_list(text)]
    assert broken == [], f"move the operator to the line before: {broken}"


# --- the book quotes the package: a rename fails here, not in make book -----------------

LITERALINCLUDE = re.compile(r"```\{literalinclude\}\s+(\S+)\s*\n((?::\w+:.*\n)*)")


def pyobject_references() -> list[tuple[Path, Path, str]]:
    found = []
    for page in PAGES:
        for match in LITERALINCLUDE.finditer(page.read_text()):
            options = dict(re.findall(r":(\w+):\s*(.*)", match.group(2)))
            if "pyobject" in options:
                found.append(
                    (page, (page.parent / match.group(1)).resolve(), options["pyobject"].strip())
                )
    return found


def defines(path: Path, qualified_name: str) -> bool:
    """True if ``path`` defines ``Class.method`` or ``function`` at that nesting."""
    body: list[ast.stmt] = ast.parse(path.read_text()).body
    for part in qualified_name.split("."):
        match = [
            n for n in body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part
        ]
        if not match:
            return False
        body = match[0].body
    return True


PYOBJECTS = pyobject_references()


def test_the_book_quotes_the_package() -> None:
    assert len(PYOBJECTS) >= 19


@pytest.mark.parametrize(
    "page, path, name", PYOBJECTS, ids=[f"{p.parent.name}:{n}" for p, _, n in PYOBJECTS]
)
def test_quoted_code_exists(page: Path, path: Path, name: str) -> None:
    assert path.is_file(), f"{page.relative_to(ROOT)} includes {path}, which does not exist"
    assert defines(path, name), (
        f"{page.relative_to(ROOT)} quotes {name}, which {path.name} no longer defines"
    )


ALIASES = {
    "scratch": "dltutor.scratch",
    "dtorch": "dltutor.torch",
    "dkeras": "dltutor.keras",
    "data": "dltutor.data",
}
NAMED = re.compile(r"`((?:dltutor|scratch|dtorch|dkeras|data)(?:\.[A-Za-z_]\w*)+)(?:\(|`)")


def named_objects() -> list[str]:
    texts = [page.read_text() for page in PAGES]
    texts += [
        source(cell)
        for path in NOTEBOOKS
        for cell in cells(path)
        if cell["cell_type"] == "markdown"
    ]
    return sorted({name for text in texts for name in NAMED.findall(text)})


@pytest.mark.parametrize("name", named_objects())
def test_named_package_objects_exist(name: str) -> None:
    head, *rest = name.split(".")
    module_name = ALIASES.get(head, head)
    if module_name == "dltutor.torch":
        pytest.importorskip("torch")
    if module_name == "dltutor.keras":
        pytest.importorskip("tensorflow")
    target = importlib.import_module(module_name)
    for part in rest:
        if not hasattr(target, part):  # a submodule not imported by its package
            target = importlib.import_module(f"{target.__name__}.{part}")
        else:
            target = getattr(target, part)
