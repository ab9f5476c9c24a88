# The two commands of the README: `make book` and `make test`.
# Each creates .venv if it is missing and installs the locked dependencies and dltutor;
# a second run reuses the environment (and then needs no network).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(shell find book -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' | sort)

# Quiet frameworks in every process the commands start (kernels inherit it).
export TF_CPP_MIN_LOG_LEVEL := 3
export TF_ENABLE_ONEDNN_OPTS := 0
export KERAS_BACKEND := tensorflow
export PYTHONHASHSEED := 0

# Against a runaway cell, not a clock: a cell stopped after this many seconds fails.
CELL_TIMEOUT := 300

.PHONY: help setup loopback test test-gpu book timing clean lock

help:
	@echo "make test      set up .venv; ruff, the workflow linters, mypy, the unit tests and every notebook (nbval)"
	@echo "make book      set up .venv, execute the notebooks (or reuse make test's runs), build _build/html"
	@echo "make timing    the notebooks' runtimes from the last build, against the time budget"
	@echo "make test-gpu  PyTorch tests and notebooks on CUDA; fails without a GPU"
	@echo "make lock      regenerate requirements-lock.txt from pyproject.toml"
	@echo "make clean     remove the build and the environment"

setup: $(STAMP)

$(STAMP): requirements-lock.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

# Jupyter kernels talk to pytest and to the book builder over 127.0.0.1. A fresh network
# namespace -- `unshare -rn make test`, the offline check -- starts with its loopback down,
# and lets its root bring it up; elsewhere loopback is already up and this does nothing.
loopback:
	@ip link show lo 2>/dev/null | grep -q '[<,]UP[,>]' || ip link set lo up 2>/dev/null || true

test: $(STAMP) loopback
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows/
	$(BIN)/python -m mypy
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=$(CELL_TIMEOUT) \
		-p no:cacheprovider tests $(NOTEBOOKS)

test-gpu: $(STAMP) loopback
	@$(BIN)/python -c "import sys, torch; ok = torch.cuda.is_available(); print('CUDA device:', torch.cuda.get_device_name(0) if ok else 'none visible'); sys.exit(0 if ok else 1)" \
		|| { echo "make test-gpu: no CUDA GPU is visible to PyTorch" >&2; exit 1; }
	DLTUTOR_DEVICE=cuda $(BIN)/python -m pytest -m torch tests
	DLTUTOR_DEVICE=cuda $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider \
		$(filter %/from_scratch.ipynb %/pytorch.ipynb,$(NOTEBOOKS))

# --all: Sphinx reads every page again, so a warning is raised on every build, not only on
# the build that first met it. Notebooks are not executed again: jupyter-cache keeps the
# outputs (the ones `make test` stored, or the book's own), keyed on the notebook and on
# the package (book/_ext/notebook_cache.py).
book: $(STAMP) loopback
	$(BIN)/jupyter-book build . --warningiserror --keep-going --all
	$(BIN)/python .ci/check_book.py _build/html
	$(BIN)/python .ci/check_measured.py
	@$(BIN)/python benchmarks/notebook_times.py
	@echo "The book is built: open file://$(CURDIR)/_build/html/index.html"

# The time budget (benchmarks/notebook_times.py), for whoever wants a gate: the runtime
# table of the last build, and exit 1 if a notebook or the total is over its limit.
timing:
	$(BIN)/python benchmarks/notebook_times.py --check

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet "torch==2.13.0" tensorflow-cpu "keras>=3" ".[torch,book,test,sql,deploy]"
	{ sed -n '/^#/p' requirements-lock.txt; .lock-venv/bin/python -m pip freeze --exclude dltutor \
		| grep -v "^# Editable" | sed -e 's/^\(torch==[0-9.]*\)+cpu$$/\1/'; } > requirements-lock.new
	mv requirements-lock.new requirements-lock.txt && rm -rf .lock-venv

clean:
	rm -rf _build $(VENV) .pytest_cache
