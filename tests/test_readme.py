"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples() -> None:
    assert BLOCKS


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, capsys: pytest.CaptureFixture[str]) -> None:
    block = BLOCKS[index]
    exec(compile(block, f"README.md python block {index}", "exec"), {})
    printed = capsys.readouterr().out.strip()
    if "print(metrics.accuracy" in block:  # the digits example prints its test accuracy
        assert float(printed) >= 0.95
