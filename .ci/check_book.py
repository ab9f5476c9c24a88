"""Check the built HTML book: every chapter notebook rendered with figures, and no noise.

Usage: python .ci/check_book.py _build/html
Fails (exit 1) if a notebook page has no executed figure, or any page shows a traceback,
an error output or a stderr block.
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


def main(html_root: Path) -> int:
    problems = []
    pages = sorted(html_root.rglob("*.html"))
    if not pages:
        problems.append(f"no HTML pages under {html_root}: did the build run?")
    notebooks = [p for p in sorted(Path("book").rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    for notebook in notebooks:
        page = html_root / notebook.with_suffix(".html")
        if not page.is_file():
            problems.append(f"{notebook} has no page at {page}")
        elif not OUTPUT_FIGURE.search(page.read_text(encoding="utf-8")):
            problems.append(f"{page} shows no figure: was {notebook} executed?")
    for page in pages:
        text = page.read_text(encoding="utf-8")
        problems += [f"{page} shows {what}" for what, marker in NOISE.items() if marker in text]
    for problem in problems:
        print("check_book:", problem, file=sys.stderr)
    if not problems:
        print(f"check_book: {len(pages)} pages, {len(notebooks)} notebooks with figures, no noise")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")))
