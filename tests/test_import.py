"""`import dltutor` is light: it loads no framework (the deterministic guard for a slow import)."""

import subprocess
import sys

import pytest

FRAMEWORKS = ("torch", "tensorflow", "keras")


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_import_loads_no_framework() -> None:
    loaded = run_python(
        f"import sys, dltutor; print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert loaded == ""


@pytest.mark.parametrize("module", ["dltutor.scratch", "dltutor.data", "dltutor.metrics"])
def test_core_modules_load_no_framework(module: str) -> None:
    loaded = run_python(
        f"import sys, {module}; print(','.join(m for m in {FRAMEWORKS!r} if m in sys.modules))"
    )
    assert loaded == ""


def test_subpackages_load_on_attribute_access() -> None:
    assert run_python("import dltutor; print(dltutor.scratch.MLP.__name__)") == "MLP"


def test_unknown_attribute_is_an_error() -> None:
    import dltutor

    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        dltutor.nonexistent  # noqa: B018


@pytest.mark.keras
def test_tensorflow_is_silenced_by_the_package() -> None:
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("TF_", "KERAS_"))}
    code = (
        "import dltutor.keras as dk, numpy as np; "
        "model = dk.MLP([4, 3, 2]); model.compile('sgd', 'mse'); "
        "model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0); print('trained')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.strip() == "trained"
    assert result.stderr == ""
