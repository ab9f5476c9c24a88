"""One execution of each notebook serves both commands; the package keys it.

``make test`` executes every notebook under nbval; ``make book`` executes
them through jupyter-cache. This module lets the first serve the second,
without weakening either:

* **The book build** (a Sphinx extension): jupyter-cache keys a notebook on
  its code cells alone, so after an edit to ``dltutor/`` it would serve
  outputs computed by the old code, and no assertion would run again. The
  cache therefore lives in a folder named after a hash of the package's
  source and of the lock file, ``_build/.jupyter_cache/<key>``: a change to
  either starts an empty cache, and the folders of other keys are removed.
* **The tests** (called by the repository's ``conftest.py``): once nbval has
  run every cell of a notebook and each passed, its assertions included, the
  outputs it recorded are stored in that same cache, as myst-nb stores a
  notebook it executed itself. The book build finds them there ("Using
  cached notebook") and renders them; the runtime table shows the seconds
  the tests took.

A notebook with a failing or skipped cell is never stored: the book build
executes it again and fails on its own terms.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from pathlib import Path
from typing import Any

CACHE_FOLDER = Path("_build") / ".jupyter_cache"
# What a notebook's outputs depend on besides its own cells.
KEYED_ON = ("dltutor", "requirements-lock.txt")


def package_key(root: Path) -> str:
    """A hash of the names and bytes of every file under KEYED_ON."""
    digest = hashlib.sha256()
    for entry in KEYED_ON:
        path = root / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and "__pycache__" not in file.parts:
                name = file.relative_to(root).as_posix()
                digest.update(name.encode() + b"\0")
                digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cache_path(root: Path) -> Path:
    """The cache folder for the package as it is now; other keys' go."""
    current = root / CACHE_FOLDER / package_key(root)
    if current.parent.is_dir():
        for stale in current.parent.iterdir():
            if stale == current:
                continue
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
    return current


# --- The book build: a Sphinx extension ----------------------------------


def _set_cache_path(app: Any, config: Any) -> None:
    config.nb_execution_cache_path = str(cache_path(Path(app.srcdir)))


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _set_cache_path)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


# --- The tests: called by the repository's conftest.py -------------------

# Per notebook under test: when its first cell began, each cell's outputs,
# and whether any cell failed or was skipped.
_runs: dict[str, dict[str, Any]] = {}


def store(root: Path, notebook: Any, path: Path, seconds: float) -> None:
    """Cache an executed notebook, as myst-nb does after executing it."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    bundle = CacheBundleIn(
        notebook, str(path.resolve()), data={"execution_seconds": seconds}
    )
    get_cache(str(cache_path(root))).cache_notebook_bundle(
        bundle, check_validity=False, overwrite=True
    )


def record_cell(item: Any, call: Any, report: Any) -> None:
    """Each phase of each nbval cell: once all cells passed, store them."""
    notebook = item.parent
    run = _runs.setdefault(
        notebook.nodeid, {"start": call.start, "outputs": {}, "failed": False}
    )
    if report.failed or report.skipped:
        run["failed"] = True
    if report.when != "call" or run["failed"]:
        return
    run["outputs"][item.cell_num] = item.test_outputs
    cells = notebook.nb.cells
    if len(run["outputs"]) < sum(c.cell_type == "code" for c in cells):
        return
    executed = copy.deepcopy(notebook.nb)
    code = [cell for cell in executed.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code):
        cell.outputs = run["outputs"][number]
        cell.execution_count = number + 1
    seconds = call.stop - run["start"]
    path = Path(str(notebook.fspath))
    store(Path(item.config.rootpath), executed, path, seconds)
