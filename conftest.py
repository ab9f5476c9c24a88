"""Repository-wide pytest hooks: a notebook that passes under nbval fills the book's cache.

See ``book/_ext/notebook_cache.py``: ``make test`` executes each notebook once, and
``make book`` renders those outputs instead of executing the notebook again.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "book" / "_ext"))
import notebook_cache  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if type(item).__name__ == "IPyNbCell":  # a notebook cell run by nbval
        notebook_cache.record_cell(item, call, outcome.get_result())
