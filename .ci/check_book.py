"""Check the built HTML book: every chapter notebook rendered with figures, no noise, offline.

Usage: python .ci/check_book.py _build/html
Fails (exit 1) if a chapter notebook page has no executed figure; if an exercises page has
fewer than three solutions, or one that is not collapsed or shows no executed output;
if any page shows a traceback,
an error output or a stderr block; if any page's text shows a ``$`` outside code and math
(an inline formula Markdown broke apart, so MathJax never sees it); or if any page or stylesheet loads a script, a
stylesheet or a font from the network (links a reader clicks, like launch buttons, are fine);
or if the runtime table misses a notebook or shows one that did not pass. It never fails
on the clock: the time budget is a report (``benchmarks/notebook_times.py``, ``make timing``).
"""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from notebook_times import read_runtimes  # noqa: E402  (the runtime table, read once)

# An executed figure: an image inside a cell's outputs (not a theme logo or a launch button),
# after any text the same cell printed first.
OUTPUT_FIGURE = re.compile(
    r'<div class="cell_output[^"]*">(?:(?!<div class="cell docutils).)*?<img[^>]+src="[^"]*_images/',
    re.S,
)

NOISE = {
    "a traceback": "Traceback (most recent call last)",
    "an error output": 'class="output traceback',
    "a stderr block": 'class="output stderr',
    "a TensorFlow log line": "TF_ENABLE_ONEDNN_OPTS",
    "an absl log line": "absl::InitializeLog",
}

# What a browser fetches by itself when it opens a page: <script src>, <link href> (style
# sheets, preloads, icons) and CSS url()/@import. An <a href> is only followed on a click.
REMOTE_IN_HTML = re.compile(
    r"<(?:script|link)\b[^>]*\b(?:src|href)=[\"']?(?:https?:)?//[^\"'>\s]+", re.I
)
REMOTE_IN_CSS = re.compile(r"(?:url\(\s*[\"']?|@import\s+[\"'])(?:https?:)?//[^\"')\s]+", re.I)


# What is not prose: code, scripts, and the math the build handed to MathJax.
NOT_PROSE = re.compile(
    r"<(pre|code|script|style)\b[^>]*>.*?</\1>"
    r'|<(span|div) class="math[^"]*">.*?</\2>',
    re.S,
)


def stray_dollar(text: str) -> str | None:
    """The words around the first ``$`` of a page's prose, or None if there is none."""
    prose = re.sub(r"<[^>]+>", " ", NOT_PROSE.sub(" ", text))
    found = prose.find("$")
    return None if found < 0 else " ".join(prose[max(0, found - 60) : found + 60].split())


def remote_loads(html_root: Path) -> list[str]:
    """Every address that a built page or style sheet would fetch from the network."""
    found = []
    for path in sorted(html_root.rglob("*")):
        pattern = {".html": REMOTE_IN_HTML, ".css": REMOTE_IN_CSS}.get(path.suffix)
        if pattern is None:
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{path.relative_to(html_root)} loads {match.group(0)[:120]}")
    return found


def runtime_problems(page: Path, notebooks: int) -> list[str]:
    """The build's runtime table: every notebook listed, and every one passed."""
    try:
        rows = read_runtimes(page)
    except FileNotFoundError as error:
        return [str(error)]
    problems = []
    if len(rows) != notebooks:
        problems.append(f"{page} lists {len(rows)} notebooks, the book has {notebooks}")
    problems += [f"{doc} did not pass: {status}" for doc, _, status in rows if status != "passed"]
    return problems


SOLUTION = re.compile(r'<div class="solution dropdown[^"]*"', re.I)
SOLUTION_ANY = re.compile(r'<div class="solution[ "]', re.I)


def solution_problems(page: Path) -> list[str]:
    """An exercises page: three solutions or more, every one collapsed and executed."""
    html = page.read_text(encoding="utf-8")
    starts = [match.start() for match in SOLUTION_ANY.finditer(html)]
    problems = []
    if len(starts) < 3:
        problems.append(f"{page} has {len(starts)} solutions; every chapter has at least three")
    if len(SOLUTION.findall(html)) != len(starts):
        problems.append(f"{page} has a solution that is not collapsed (:class: dropdown)")
    for number, (start, end) in enumerate(zip(starts, [*starts[1:], len(html)]), start=1):
        if 'class="cell_output' not in html[start:end]:
            problems.append(f"{page}: solution {number} shows no executed output")
    return problems


def main(html_root: Path) -> int:
    problems = []
    pages = sorted(html_root.rglob("*.html"))
    if not pages:
        problems.append(f"no HTML pages under {html_root}: did the build run?")
    notebooks = [
        p for p in sorted(Path("book").rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts
    ]
    for notebook in notebooks:
        page = html_root / notebook.with_suffix(".html")
        if not page.is_file():
            problems.append(f"{notebook} has no page at {page}")
        elif notebook.name == "exercises.ipynb":
            problems += solution_problems(page)
        elif not OUTPUT_FIGURE.search(page.read_text(encoding="utf-8")):
            problems.append(f"{page} shows no figure: was {notebook} executed?")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        problems += [f"{page} shows {what}" for what, marker in NOISE.items() if marker in text]
        if "_static" not in page.parts and (words := stray_dollar(text)):
            problems.append(f"{page} shows a formula MathJax did not get: ...{words}...")
    problems += [f"{line}: the book must work offline" for line in remote_loads(html_root)]
    problems += runtime_problems(html_root / "book" / "runtimes.html", len(notebooks))
    for problem in problems:
        print("check_book:", problem, file=sys.stderr)
    if not problems:
        print(
            f"check_book: {len(pages)} pages, {len(notebooks)} notebooks executed (figures in "
            "every chapter notebook, collapsed solutions in every exercises page), each "
            "formula typeset, each notebook passed, no noise, nothing loaded from the network"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")))
