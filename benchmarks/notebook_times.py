"""How long the book's notebooks take: the runtime report, the budget, and one notebook's cells.

The book's time budget lives here and nowhere else. The tests and the book build never
fail on the clock (a slower machine is not a bug); this script is the gate for whoever
wants one.

    python benchmarks/notebook_times.py              # the table of the last build
    python benchmarks/notebook_times.py --check      # ... and exit 1 if over budget
    python benchmarks/notebook_times.py book/rnn/keras.ipynb [...]   # execute, time each cell

The table reads the runtime page of the built book (``_build/html/book/runtimes.html``),
the numbers the execution-status page shows. Executing a notebook here runs it as the
book build does (in its own folder, in a fresh kernel) and prints its slowest cells.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
import time
from datetime import datetime
from pathlib import Path

# The budget, measured on a quiet 2-core CPU (the machine the README names).
MAX_NOTEBOOK_SECONDS = 40.0  # every notebook, setup included
MAX_TOTAL_SECONDS = 600.0  # the whole book: every notebook, one after the other

RUNTIME_ROW = re.compile(
    r'<span class="doc">(?P<doc>[^<]+)</span>.*?<td><p>(?P<method>[^<]*)</p></td>\s*'
    r"<td><p>(?P<seconds>[\d.]+)</p></td>\s*<td><p>(?P<status>[^<]*)</p></td>",
    re.S,
)


def read_runtimes(page: Path) -> list[tuple[str, float, str]]:
    """(document, seconds, status) for every notebook in the runtime page of a built book."""
    if not page.is_file():
        raise FileNotFoundError(f"no runtime page at {page}: build the book first (make book)")
    rows = RUNTIME_ROW.finditer(page.read_text(encoding="utf-8"))
    return [
        (html.unescape(row["doc"]), float(row["seconds"]), row["status"].strip()) for row in rows
    ]


def report(rows: list[tuple[str, float, str]]) -> str:
    """The runtime table, slowest first, with the total and the budget beside each figure."""
    width = max((len(doc) for doc, _, _ in rows), default=8)
    lines = [f"{'notebook':<{width}}  {'seconds':>7}  status"]
    for doc, seconds, status in sorted(rows, key=lambda row: -row[1]):
        over = "  over budget" if seconds > MAX_NOTEBOOK_SECONDS else ""
        lines.append(f"{doc:<{width}}  {seconds:7.1f}  {status}{over}")
    total = sum(seconds for _, seconds, _ in rows)
    lines.append(
        f"{'total (' + str(len(rows)) + ' notebooks)':<{width}}  {total:7.1f}  "
        f"budget: {MAX_NOTEBOOK_SECONDS:.0f} s each, {MAX_TOTAL_SECONDS:.0f} s in all"
    )
    return "\n".join(lines)


def over_budget(rows: list[tuple[str, float, str]]) -> list[str]:
    """What breaks the budget: each notebook over its limit, and the total over its own."""
    problems = [
        f"{doc} took {seconds:.1f} s, over the {MAX_NOTEBOOK_SECONDS:.0f} s budget"
        for doc, seconds, _ in rows
        if seconds > MAX_NOTEBOOK_SECONDS
    ]
    total = sum(seconds for _, seconds, _ in rows)
    if total > MAX_TOTAL_SECONDS:
        problems.append(f"the notebooks took {total:.0f} s, over the {MAX_TOTAL_SECONDS:.0f} s")
    return problems


def time_cells(notebook: Path, show: int = 8) -> float:
    """Execute ``notebook`` as the book build does; print its slowest cells; return seconds."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=600, record_timing=True, resources={"metadata": {"path": notebook.parent}}
    )
    start = time.perf_counter()
    client.execute()
    total = time.perf_counter() - start
    cells = []
    for index, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.cell_type == "code" and "iopub.execute_input" in timing:
            began = datetime.fromisoformat(timing["iopub.execute_input"])
            ended = datetime.fromisoformat(timing["shell.execute_reply"])
            first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            cells.append(((ended - began).total_seconds(), index, first_line))
    print(f"{notebook}: {total:.1f} s (kernel start and every cell)")
    for seconds, index, first_line in sorted(cells, reverse=True)[:show]:
        print(f"  cell {index:3d}  {seconds:6.1f} s  {first_line[:60]}")
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="execute and time these")
    parser.add_argument("--page", type=Path, default=Path("_build/html/book/runtimes.html"))
    parser.add_argument("--check", action="store_true", help="exit 1 if over budget")
    args = parser.parse_args()
    if args.notebooks:
        total = sum(time_cells(notebook) for notebook in args.notebooks)
        print(f"{len(args.notebooks)} notebooks: {total:.1f} s")
        return 0
    rows = read_runtimes(args.page)
    print(report(rows))
    if args.check:
        problems = over_budget(rows)
        for problem in problems:
            print("notebook_times:", problem, file=sys.stderr)
        if not problems:
            print("notebook_times: within budget")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
