"""Notebook hygiene: committed without outputs, every notebook in the table of contents."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_committed_without_outputs(path: Path) -> None:
    cells = json.loads(path.read_text())["cells"]
    dirty = [
        index
        for index, cell in enumerate(cells)
        if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)
    ]
    assert dirty == [], f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_in_table_of_contents(path: Path) -> None:
    toc = (ROOT / "_toc.yml").read_text()
    assert str(path.relative_to(ROOT).with_suffix("")) in toc


def test_each_chapter_has_its_three_implementations() -> None:
    chapters = {p.parent for p in NOTEBOOKS}
    for chapter in chapters:
        names = {p.name for p in chapter.glob("*.ipynb")}
        assert {"from_scratch.ipynb", "pytorch.ipynb", "keras.ipynb"} <= names, chapter
        assert (chapter / "index.md").is_file(), chapter
