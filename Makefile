# Two commands do everything on a fresh machine:  make run  and  make test.
# Both create the local virtual environment .venv first (once; again only when
# requirements.txt or pyproject.toml change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup run run-strict report test lint lab lab-run data clean-cache

help:
	@echo "make run    install, fetch IMDB, execute every notebook (outputs saved in them)"
	@echo "make run-strict  the same, an unmet expected outcome failing its notebook (the committed run)"
	@echo "make test   install, lint, run the unit tests and every notebook in quick mode"
	@echo "make lab    open JupyterLab on the same environment"
	@echo "make lab-run  every notebook with small settings, copies in lab/ (a 90-minute class)"
	@echo "make lint   ruff on utils/, tests/ and the notebooks"
	@echo "make report rewrite the README's results section and TEACHING.md's tables"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

data: setup
	$(PY) -c "from utils.data import ensure_imdb; print('IMDB reviews in', ensure_imdb())"

run: setup data
	$(PY) -m utils.run_notebooks; status=$$?; \
	$(PY) -m utils.report && $(PY) -m utils.teaching && exit $$status

run-strict: setup data
	BIRNN_STRICT=1 $(PY) -m utils.run_notebooks; status=$$?; \
	$(PY) -m utils.report && $(PY) -m utils.teaching && exit $$status

report: setup
	$(PY) -m utils.report
	$(PY) -m utils.teaching

test: setup lint
	$(PY) -m pytest

lint: setup
	$(PY) -m ruff check utils tests notebooks

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

lab-run: setup data
	$(PY) -m utils.run_notebooks --lab

clean-cache:
	rm -rf data/imdb_cache
