# deeplense_nb — every target creates .venv and installs the toolchain first, pinned by constraints.txt.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: help run test docs lab export readme clean install browser postgres
help:
	@echo "make run     simulate a small data set, explore (and train/evaluate) it -> runs/quickstart/"
	@echo "make test    run the whole test suite (pytest)"
	@echo "make docs    build the docs site into site/"
	@echo "make lab     start JupyterLab on 127.0.0.1 with the notebooks in nbs/"
	@echo "make export  regenerate deeplense_nb/ and README.md from nbs/ and clean the notebooks"

$(STAMP): settings.ini setup.py constraints.txt
	@free=$$(df -Pk . | awk 'NR==2 {print int($$4 / 1048576)}'); if [ "$$free" -lt 7 ] && [ ! -x $(BIN)/python ]; then \
	  echo "make: only $$free GB free on this disk; the pinned toolchain (PyTorch with CUDA libraries) needs about 7 GB in .venv" >&2; exit 1; fi
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'  # ranges in settings.ini, exact checked pins here
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/deeplense-nb quickstart --out runs/quickstart

test: install browser postgres
	$(BIN)/python -m pytest

export: install
	$(BIN)/nbdev_export
	$(BIN)/nbdev_clean
	$(BIN)/python docs/scripts/readme.py

readme: install
	$(BIN)/python docs/scripts/readme.py

docs: install
	$(BIN)/mkdocs build --strict -q

# JupyterLab on 127.0.0.1 only, file browser in nbs/, kernel = .venv's python (package installed editable).
LAB_ARGS ?=
lab: install
	cd nbs && ../$(BIN)/jupyter lab --ip 127.0.0.1 --no-browser $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

clean:
	rm -rf site _docs _proc .pytest_cache build *.egg-info

# Headless Chromium for the docs-site browser test (Debian packages; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then sudo -E apt-get update -qq && sudo -E apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing and cannot be installed without root: the browser test will fail"; fi; }

# PostgreSQL server binaries for the Optuna-on-a-database test (Debian package; the test starts its own throw-away
# server on 127.0.0.1 and skips, saying why, where the binaries are missing).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then sudo -E apt-get update -qq && sudo -E apt-get install -y -qq postgresql >/dev/null; \
	  else echo "PostgreSQL is missing and cannot be installed without root: its Optuna test will be skipped"; fi; }
