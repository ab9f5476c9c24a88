"""The book build's cache, tried on a one-notebook book built with the real tools.

What `make book` promises: a failed build, once its cause is fixed, builds again (no
stale state); a change to the package is seen in the pages (the cache is keyed on it);
a notebook that passed under nbval in `make test` is rendered from that run, not
executed twice; and no notebook fails the build for being slow.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / ".ci"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import check_book  # noqa: E402
import notebook_times  # noqa: E402

pytest.importorskip("jupyter_book")
pytest.importorskip("nbval")

CONFIG = """\
title: cache test
only_build_toc_files: true
execute:
  execute_notebooks: cache
  timeout: 120
  run_in_temp: false
sphinx:
  local_extensions:
    notebook_cache: {ext}
  config:
    nb_execution_raise_on_error: true
    nb_execution_show_tb: true
"""


def notebook(*cells: str) -> dict:
    """A notebook of code cells, as the book commits them (no outputs)."""
    return {
        "cells": [
            {"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Page"},
            *(
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells)
            ),
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


# The notebook prints what a function of the package returns, and who executed it.
READ_PACKAGE = textwrap.dedent(
    """\
    import importlib.util, os
    spec = importlib.util.spec_from_file_location("word", "dltutor/word.py")
    word = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(word)
    print("word:", word.WORD, "run by:", os.environ.get("RUN_BY", "the book"))
    """
)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    (tmp_path / "_config.yml").write_text(CONFIG.format(ext=ROOT / "book" / "_ext"))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n- file: page\n")
    (tmp_path / "intro.md").write_text("# Intro\n")
    (tmp_path / "dltutor").mkdir()
    (tmp_path / "dltutor" / "word.py").write_text('WORD = "first"\n')
    (tmp_path / "requirements-lock.txt").write_text("")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    shutil.copy(ROOT / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_ext").symlink_to(ROOT / "book" / "_ext")
    write(tmp_path, READ_PACKAGE, "assert 1 + 1 == 2")
    return tmp_path


def write(book: Path, *cells: str) -> None:
    (book / "page.ipynb").write_text(json.dumps(notebook(*cells)))


def build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [BIN / "jupyter-book", "build", ".", "--warningiserror", "--keep-going", "--all"],
        cwd=book,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_tests(book: Path) -> subprocess.CompletedProcess:
    """The notebook under nbval, as `make test` runs it, with RUN_BY saying who ran it."""
    return subprocess.run(
        [BIN / "python", "-m", "pytest", "--nbval-lax", "--nbval-current-env"]
        + ["-p", "no:cacheprovider", "page.ipynb"],
        cwd=book,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RUN_BY": "the tests"},
    )


def page(book: Path) -> str:
    return (book / "_build" / "html" / "page.html").read_text()


def test_a_failed_build_builds_once_fixed_and_a_package_change_is_seen(book: Path) -> None:
    write(book, READ_PACKAGE, "assert 1 + 1 == 3, 'the notebook fails'")
    failed = build(book)
    assert failed.returncode != 0, failed.stdout[-2000:]
    assert "the notebook fails" in failed.stdout + failed.stderr

    write(book, READ_PACKAGE, "assert 1 + 1 == 2")
    fixed = build(book)
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert "word: first run by: the book" in page(book)

    (book / "dltutor" / "word.py").write_text('WORD = "second"\n')  # the package changes
    changed = build(book)
    assert changed.returncode == 0, changed.stdout[-3000:] + changed.stderr[-3000:]
    assert "Executing notebook" in changed.stdout  # not "Using cached notebook"
    assert "word: second run by: the book" in page(book)
    # One cache folder, for the package as it is now.
    assert len(list((book / "_build" / ".jupyter_cache").iterdir())) == 1


def test_the_book_renders_the_run_that_the_tests_made(book: Path) -> None:
    tests = run_tests(book)
    assert tests.returncode == 0, tests.stdout[-3000:]
    built = build(book)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "Using cached notebook" in built.stdout
    assert "word: first run by: the tests" in page(book)


def test_a_failing_notebook_under_the_tests_is_not_cached(book: Path) -> None:
    write(book, READ_PACKAGE, "assert os.environ.get('RUN_BY') != 'the tests'")
    tests = run_tests(book)
    assert tests.returncode != 0
    built = build(book)  # executes it afresh, where it passes
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    assert "Executing notebook" in built.stdout
    assert "word: first run by: the book" in page(book)


RUNTIMES = """
<tr><td><p><span class="doc">book/fast/pytorch</span></p></td><td><p>2026-12-02</p></td>
<td><p>cache</p></td>
<td><p>12.5</p></td>
<td><p>passed</p></td></tr>
<tr><td><p><span class="doc">book/slow/keras</span></p></td><td><p>2026-12-02</p></td>
<td><p>cache</p></td>
<td><p>75.0</p></td>
<td><p>passed</p></td></tr>
"""


def test_a_slow_notebook_fails_the_budget_report_and_never_the_build(tmp_path: Path) -> None:
    runtimes = tmp_path / "runtimes.html"
    runtimes.write_text(RUNTIMES)
    rows = notebook_times.read_runtimes(runtimes)
    assert rows == [("book/fast/pytorch", 12.5, "passed"), ("book/slow/keras", 75.0, "passed")]
    assert check_book.runtime_problems(runtimes, notebooks=2) == []  # the build passes
    problems = notebook_times.over_budget(rows)  # the report names it
    assert problems == [
        f"book/slow/keras took 75.0 s, over the {notebook_times.MAX_NOTEBOOK_SECONDS:.0f} s budget"
    ]
    table = notebook_times.report(rows).splitlines()
    assert table[1].startswith("book/slow/keras") and "over budget" in table[1]  # slowest first
    assert "87.5" in table[-1]  # the total
    failed = RUNTIMES.replace("<p>passed</p></td></tr>\n<tr>", "<p>failed</p></td></tr>\n<tr>")
    runtimes.write_text(failed)
    assert check_book.runtime_problems(runtimes, notebooks=2) == [
        "book/fast/pytorch did not pass: failed"
    ]
