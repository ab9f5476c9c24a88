"""Keep the book's "measured" comments true: each must say what the notebook printed.

A threshold in a notebook carries the value it was measured at, as a comment:
``assert accuracy > 0.9  # measured 95.6%``. Comments drift when a notebook changes and
nobody edits them. This check reads the executed notebooks (the book build's
``_build/jupyter_execute``) and, for every code comment that says "measured", asks of
each number it states:

- it is printed by that cell or an earlier one, to the comment's precision (0.957 for a
  printed 0.95712; 95.7% for 0.95712 or 95.712; 6.4e-10 for 6.38e-10);
- or it follows from two numbers of the same comment (a margin 0.057 under 0.957 and
  0.9, a ratio, "3.5 times");
- only what follows the word "measured" is checked ("within 15%; measured 11%": 11%);
  so is not the score of a guess ("chance 10%");
- numbers with a unit of time or speed (``s``, ``ms``, ``×``), and whole numbers without
  a percent sign, are not checked: times differ from machine to machine, and counts
  ("6 of 360 digits to spare") are not measurements of a precision.

A comment continues over the comment-only lines that follow it. Usage:
``python .ci/check_measured.py`` reads the outputs of the book's own notebooks from the
book's cache (``make book`` leaves every notebook there: executed by the build, or stored
by ``make test``'s run); ``python .ci/check_measured.py FOLDER`` reads executed notebooks
from a folder instead. Exit status 1 lists each number that no output supports, with its
notebook and line.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from itertools import permutations
from pathlib import Path

# A number as people write it: 0.957, 95.7%, 6.4e-10, 6.4×10⁻¹⁰ is not used in code.
NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>[-−])?(?P<body>\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?)"
    r"(?P<unit>(?:%|x\b|\s*(?:×|s\b|ms\b|µs\b|seconds\b|MiB\b|MB\b|KiB\b|kB\b|°))?)"
)
TIME_OR_SPEED = {"×", "x", "s", "ms", "µs", "seconds"}
MEASURED = re.compile(r"#.*\bmeasured\b", re.IGNORECASE)
MEASURED_WORD = re.compile(r"\bmeasured\b", re.IGNORECASE)
# "chance 10%", "guessing: 10%": what a guess scores follows from the task, not a run
CHANCE = re.compile(r"\b(?:chance|guessing)\W{0,3}$", re.IGNORECASE)


@dataclass(frozen=True)
class Stated:
    """A number as a comment states it, with the precision its digits carry."""

    value: float
    half_unit: float  # half a unit in the last written digit
    percent: bool
    text: str


def stated_numbers(comment: str) -> list[Stated]:
    """The numbers of a comment that are checked (see the module docstring)."""
    numbers = []
    start = MEASURED_WORD.search(comment)
    for match in NUMBER.finditer(comment, start.end() if start else 0):
        body, unit = match["body"], match["unit"].strip()
        if unit in TIME_OR_SPEED or CHANCE.search(comment[: match.start()]):
            continue
        percent = unit == "%"
        digits = body.replace(",", "")
        mantissa, _, exponent = digits.lower().partition("e")
        if "." not in mantissa and not exponent and not percent:
            continue  # a count, not a measured decimal
        decimals = len(mantissa.partition(".")[2])
        half_unit = 0.5 * 10.0 ** (-decimals + (int(exponent) if exponent else 0))
        numbers.append(Stated(float(digits), half_unit, percent, match.group(0).strip()))
    return numbers


def printed_numbers(text: str) -> list[float]:
    """Every number in a cell's printed output, as a float."""
    values = []
    for match in NUMBER.finditer(text):
        try:
            values.append(abs(float(match["body"].replace(",", ""))))
        except ValueError:  # pragma: no cover - the pattern only matches numbers
            continue
    return values


def supported(number: Stated, printed: list[float], others: list[Stated]) -> bool:
    """Whether a printed number, or two of the comment's own numbers, give this one."""
    target, tolerance = abs(number.value), number.half_unit * (1 + 1e-9)
    scales = (1.0, 100.0, 0.01) if number.percent else (1.0,)
    for value in printed:
        for scale in scales:
            if abs(value * scale - target) <= tolerance:
                return True
    for a, b in permutations([other for other in others if other is not number], 2):
        x, y = abs(a.value), abs(b.value)
        if abs(abs(x - y) - target) <= tolerance + a.half_unit + b.half_unit:
            return True
        if (
            x
            and y
            and abs(x / y - target) <= tolerance + x / y * (a.half_unit / x + b.half_unit / y)
        ):
            return True
    return False


def cell_text(cell: dict) -> str:
    """What a code cell printed: streams and plain-text results, errors excluded."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append("".join(output.get("text", "")))
        elif output.get("output_type") in ("execute_result", "display_data"):
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def measured_comments(source: str) -> list[tuple[int, str]]:
    """(line number, comment) for each "measured" comment, with its continuation lines."""
    lines = source.splitlines()
    found = []
    index = 0
    while index < len(lines):
        line = lines[index]
        match = MEASURED.search(line)
        if match is None:
            index += 1
            continue
        comment = line[line.index("#") :]
        start = index
        index += 1
        while (
            index < len(lines)
            and lines[index].lstrip().startswith("#")
            and not MEASURED.search(lines[index])
        ):
            comment += " " + lines[index].strip().lstrip("#")
            index += 1
        found.append((start + 1, comment))
    return found


def check_notebook(path: Path, notebook: dict | None = None) -> list[str]:
    """The unsupported numbers of one executed notebook (read from ``path`` if not given)."""
    if notebook is None:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    printed: list[float] = []
    for number, cell in enumerate(notebook["cells"], start=1):
        if cell["cell_type"] != "code":
            continue
        printed = printed + printed_numbers(cell_text(cell))
        source = "".join(cell["source"])
        for line, comment in measured_comments(source):
            stated = stated_numbers(comment)
            for each in stated:
                if not supported(each, printed, stated):
                    problems.append(
                        f"{path}: cell {number}, line {line}: {each.text!r} is printed "
                        f"by no cell up to this one: {comment.strip()}"
                    )
    return problems


def from_folder(folder: Path) -> dict[Path, dict]:
    """Executed notebooks saved under a folder, by path."""
    return {
        path: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(folder.rglob("*.ipynb"))
    }


def from_cache(cache: Path, sources: list[Path]) -> tuple[dict[Path, dict], list[Path]]:
    """The cached outputs of each source notebook as it is now, and the ones not cached."""
    import nbformat
    from jupyter_cache import get_cache

    found, missing = {}, []
    store = get_cache(str(cache)) if cache.is_dir() else None
    for path in sources:
        try:
            if store is None:
                raise KeyError(path)
            _, merged = store.merge_match_into_notebook(nbformat.read(path, as_version=4))
        except KeyError:
            missing.append(path)
            continue
        found[path] = json.loads(nbformat.writes(merged))
    return found, missing


def book_notebooks(root: Path) -> list[Path]:
    """The notebooks of the book, as the Makefile finds them."""
    return sorted(
        path for path in (root / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in path.parts
    )


def main(folder: str | None = None) -> int:
    if folder is not None:
        notebooks = from_folder(Path(folder))
        missing: list[Path] = []
    else:
        root = Path(__file__).resolve().parent.parent
        sys.path.insert(0, str(root / "book" / "_ext"))
        from notebook_cache import CACHE_FOLDER, package_key

        sources = book_notebooks(root)
        notebooks, missing = from_cache(root / CACHE_FOLDER / package_key(root), sources)
    for path in missing:
        print(
            f"check_measured: {path} has no executed copy in the book's cache: build the book first"
        )
    if not notebooks:
        print(f"check_measured: no executed notebooks ({folder or 'cache'}): build the book first")
        return 1
    problems = [problem for path, nb in notebooks.items() for problem in check_notebook(path, nb)]
    for problem in problems:
        print(problem)
    checked = sum(
        len(stated_numbers(comment))
        for notebook in notebooks.values()
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for _, comment in measured_comments("".join(cell["source"]))
    )
    print(
        f"check_measured: {len(notebooks)} notebooks, {checked} measured numbers, "
        f"{len(problems)} that no output supports"
    )
    return 1 if problems or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
