"""The check that keeps "measured" comments equal to what the notebooks print."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".ci"))

import check_measured  # noqa: E402


def executed(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    """An executed notebook: each cell is (source, what it printed)."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": source,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": printed}],
            }
            for source, printed in cells
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "notebook.ipynb"
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("comment", "printed"),
    [
        ("# measured 0.957", "accuracy 0.95712"),
        ("# measured 95.7%", "accuracy 0.95712"),
        ("# measured 95.7%", "accuracy 95.71%"),
        ("# measured 6.4e-10", "max difference 6.38e-10"),
        ("# measured 1,234.5", "total 1234.46"),
        # a margin and a ratio follow from the comment's own measured numbers
        ("# measured 0.957 against 0.900: 0.057 apart", "0.957 0.900"),
        ("# measured 39.4 to 25.4, a ratio of 0.64", "39.4 25.4"),
        # times and counts are not checked
        ("# measured 2.3 s, 4.1× faster, 2.0x; 6 of 360 to spare", "nothing"),
        ("# measured y = 1.974 x + 1.518", "y = 1.974 x + 1.518"),
        # a threshold before "measured" and the score of a guess are not measurements
        ("# within 15%: measured 11.2%, chance 10%", "0.112"),
    ],
)
def test_a_comment_the_output_supports_passes(tmp_path: Path, comment: str, printed: str) -> None:
    path = executed(tmp_path, [("print(x)", printed), (f"assert x > 0.9  {comment}", "")])
    assert check_measured.check_notebook(path) == []


@pytest.mark.parametrize(
    ("comment", "printed", "flagged"),
    [
        ("# measured 6.9e-10", "max difference 6.4e-10", "6.9e-10"),
        ("# measured 99.9%", "accuracy 100.0%", "99.9%"),
        ("# measured 94%", "accuracy 0.953", "94%"),
        # more digits than were printed cannot be checked, so they are flagged
        ("# measured 0.957", "accuracy 0.96", "0.957"),
        # a derived number that follows from nothing stated
        ("# measured 0.957: 0.2 apart", "0.957", "0.2"),
        ("# measured y = 1.994 x + 0.994", "y = 1.974 x + 0.994", "1.994"),
    ],
)
def test_a_drifted_comment_is_named(
    tmp_path: Path, comment: str, printed: str, flagged: str
) -> None:
    path = executed(tmp_path, [("print(x)", printed), (f"assert x > 0.9  {comment}", "")])
    problems = check_measured.check_notebook(path)
    assert len(problems) == 1
    assert repr(flagged) in problems[0]
    assert "cell 2, line 1" in problems[0]


def test_only_earlier_output_counts(tmp_path: Path) -> None:
    path = executed(tmp_path, [("assert x  # measured 0.957", ""), ("print(x)", "0.957")])
    assert len(check_measured.check_notebook(path)) == 1


def test_a_comment_continues_over_the_comment_lines_below_it(tmp_path: Path) -> None:
    source = "assert x  # measured: SGD 0.80; Adam 9.3e-3,\n# momentum 2.2e-5\ny = 1  # 7.7"
    path = executed(tmp_path, [("print(x)", "0.8 0.0093 2.2e-05"), (source, "")])
    assert check_measured.check_notebook(path) == []
    path = executed(tmp_path, [("print(x)", "0.8 0.0093"), (source, "")])
    assert [p for p in check_measured.check_notebook(path) if "2.2e-5" in p]


def test_no_notebooks_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_measured.main(str(tmp_path)) == 1
    assert "build the book first" in capsys.readouterr().out


def test_outputs_come_from_the_books_cache(tmp_path: Path) -> None:
    """`make book` renders cached notebooks: the check reads their outputs from the cache."""
    import nbformat
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    executed_path = executed(tmp_path, [("print(x)", "0.953"), ("assert x  # measured 94%", "")])
    source = nbformat.read(executed_path, as_version=4)
    for cell in source.cells:
        cell.outputs = []
    source_path = tmp_path / "source.ipynb"
    nbformat.write(source, source_path)
    cache = tmp_path / "cache"
    get_cache(str(cache)).cache_notebook_bundle(
        CacheBundleIn(nbformat.read(executed_path, as_version=4), str(source_path)),
        check_validity=False,
    )
    other = tmp_path / "other.ipynb"
    changed = nbformat.read(source_path, as_version=4)
    changed.cells[0].source = "print(y)"
    nbformat.write(changed, other)

    found, missing = check_measured.from_cache(cache, [source_path, other])
    assert list(found) == [source_path] and missing == [other]
    problems = check_measured.check_notebook(source_path, found[source_path])
    assert len(problems) == 1 and "'94%'" in problems[0]
