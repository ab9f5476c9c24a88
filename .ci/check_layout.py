"""Check the built book as a reader's browser lays it out: code fits a laptop's window.

Usage: python .ci/check_layout.py _build/html [--width 1280]

Opens every chapter page in headless Chromium (Debian's ``chromium``), with the network
unused (the pages are local files), at a window ``--width`` pixels wide, and measures
each block of code (not what a cell printed): it fails if one of at most 79 columns
scrolls sideways, or if 79 characters of code (the
notebooks' line limit) would not fit in a code cell. Needs ``chromium`` (or Google
Chrome) on the PATH; ``.ci/run`` installs it.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs in the page once it has loaded: every <pre>'s overflow, and how wide 79 characters
# of the code font are against the room inside a notebook cell's code block.
MEASURE = """
<script>
window.addEventListener("load", () => {
  const found = {overflowing: [], wide: 0, cells: 0, room: [], needed: 0};
  for (const pre of document.querySelectorAll("article pre")) {
    if (pre.closest(".cell_output")) continue;  // what a cell printed may be wide
    const longest = pre.textContent.split("\\n").sort(
      (a, b) => b.length - a.length)[0];
    // The package's own source, shown by literalinclude, runs to 100 columns
    // and may scroll; code of 79 columns or fewer must not.
    if (longest.length > 79) { found.wide += 1; continue; }
    if (pre.scrollWidth > pre.clientWidth + 1) {
      found.overflowing.push(longest.slice(0, 90));
    }
  }
  for (const pre of document.querySelectorAll("article div.cell_input pre")) {
    const style = getComputedStyle(pre);
    const probe = document.createElement("span");
    probe.textContent = "x".repeat(79);
    probe.style.whiteSpace = "pre";
    pre.appendChild(probe);
    found.needed = Math.max(found.needed, probe.getBoundingClientRect().width);
    probe.remove();
    found.room.push(pre.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight));
    found.cells += 1;
  }
  const out = document.createElement("pre");
  out.id = "layout-report";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>
"""
REPORT = re.compile(r'<pre id="layout-report"[^>]*>(.*?)</pre>', re.S)


def measure(chromium: str, page: Path, width: int) -> dict:
    """Lay ``page`` out at ``width`` pixels in headless Chromium and return the measures."""
    with tempfile.NamedTemporaryFile("w", suffix=".html", dir=page.parent, delete=False) as copy:
        copy.write(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"))
    try:
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--virtual-time-budget=10000",
                f"--window-size={width},900",
                "--dump-dom",
                Path(copy.name).as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        Path(copy.name).unlink()
    match = REPORT.search(dom)
    if match is None:
        raise RuntimeError(f"Chromium returned no measures for {page}")
    return json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html_root", type=Path, nargs="?", default=Path("_build/html"))
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    names = ("chromium", "chromium-browser", "google-chrome")
    chromium = next((found for name in names if (found := shutil.which(name))), None)
    if chromium is None:
        print("check_layout: no chromium on the PATH (apt-get install chromium)", file=sys.stderr)
        return 1
    pages = sorted(args.html_root.glob("book/*/*.html"))
    if not pages:
        print(f"check_layout: no chapter pages under {args.html_root}", file=sys.stderr)
        return 1
    problems, cells, wide, tightest = [], 0, 0, float("inf")
    for page in pages:
        found = measure(chromium, page, args.width)
        name = page.relative_to(args.html_root)
        problems += [
            f"{name}: a code block scrolls sideways: {line!r}" for line in found["overflowing"]
        ]
        cells += found["cells"]
        wide += found["wide"]
        if found["room"]:
            room = min(found["room"])
            tightest = min(tightest, room)
            if found["needed"] > room:
                problems.append(
                    f"{name}: 79 columns of code need {found['needed']:.0f} px, "
                    f"a code cell has {room:.0f} px at a {args.width} px window"
                )
    for problem in problems:
        print("check_layout:", problem, file=sys.stderr)
    if not problems:
        print(
            f"check_layout: {len(pages)} pages at {args.width} px: no code block scrolls "
            f"sideways; 79 columns fit in each of {cells} code cells (the narrowest has "
            f"{tightest:.0f} px); {wide} blocks of package source wider than 79 columns may "
            "scroll"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
