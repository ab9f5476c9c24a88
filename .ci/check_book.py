"""Check the built HTML book: every chapter notebook rendered with figures, no noise, offline.

Usage: python .ci/check_book.py _build/html
Fails (exit 1) if a notebook page has no executed figure; if any page shows a traceback,
an error output or a stderr block; or if any page or stylesheet loads a script, a
stylesheet or a font from the network (links a reader clicks, like launch buttons, are fine).
"""

import re
import sys
from pathlib import Path

# An executed figure: an image inside a cell's output (not a theme logo or a launch button).
OUTPUT_FIGURE = re.compile(r'<div class="cell_output[^"]*">\s*<img[^>]+src="[^"]*_images/')

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
        elif not OUTPUT_FIGURE.search(page.read_text(encoding="utf-8")):
            problems.append(f"{page} shows no figure: was {notebook} executed?")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        problems += [f"{page} shows {what}" for what, marker in NOISE.items() if marker in text]
    problems += [f"{line}: the book must work offline" for line in remote_loads(html_root)]
    for problem in problems:
        print("check_book:", problem, file=sys.stderr)
    if not problems:
        print(
            f"check_book: {len(pages)} pages, {len(notebooks)} notebooks with figures, "
            "no noise, nothing loaded from the network"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")))
