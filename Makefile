# Two commands do everything on a fresh machine:  make run  and  make test.
# Both create the local virtual environment .venv first (once; again only when
# requirements.txt or pyproject.toml change).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help setup run run-strict report test test-laptop test-previous lint lab lab-run laptop-run data \
        clean-cache \
        assignment grade

help:
	@echo "make run    install, fetch IMDB, execute every notebook (outputs saved in them)"
	@echo "make run-strict  the same, an unmet expected outcome failing its notebook (the committed run)"
	@echo "make test   install, lint, run the unit tests and every notebook in quick mode"
	@echo "make lab    open JupyterLab on the same environment"
	@echo "make lab-run  every notebook with small settings, copies in lab/ (a 90-minute class)"
	@echo "make laptop-run  every notebook with a laptop's settings (between quick and full), in lab/"
	@echo "make test-laptop  every lesson at the laptop preset, strict (about 9 minutes on 2 cores)"
	@echo "make test-previous  the notebooks in quick mode on the previous TensorFlow release"
	@echo "make lint   ruff on utils/, tests/ and the notebooks"
	@echo "make report rewrite the README's results section and TEACHING.md's tables"
	@echo "make assignment  the graded assignment: student release + autograder in dist/assignment/"
	@echo "make grade SUBMISSION=path/to/notebook.ipynb  grade one notebook (last line: score: X / Y)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

data: setup
	$(PY) -c "from utils.data import ensure_imdb; print('IMDB reviews in', ensure_imdb())"

# Two notebooks at a time (one kernel keeps about one core busy); those that measure speed
# run alone (ALONE in utils/run_notebooks.py). RUN_WORKERS=1 runs one at a time.
RUN_WORKERS ?= 2
run: setup data
	$(PY) -m utils.run_notebooks --workers $(RUN_WORKERS); status=$$?; \
	$(PY) -m utils.report && $(PY) -m utils.teaching && exit $$status

run-strict: setup data
	BIRNN_STRICT=1 $(PY) -m utils.run_notebooks --workers $(RUN_WORKERS); status=$$?; \
	$(PY) -m utils.report && $(PY) -m utils.teaching && exit $$status

report: setup
	$(PY) -m utils.report
	$(PY) -m utils.teaching

# Three tests at a time (pytest-xdist): a notebook's kernel spends much of its time tracing
# graphs on one core, so three of them keep two cores busy. The longest go first, each a unit
# of its own, and the short ones fill the end (the order: tests/conftest.py). --maxschedchunk 1
# hands each worker one test at a time: without it xdist gives each a first run of 70
# consecutive tests, so one worker ran every notebook test (CI 2026-12-07: 29 min).
# Each worker forks its notebooks' kernels from a process that has imported TensorFlow once
# (tests/forked_kernels.py; BIRNN_FORKED_KERNELS=0: as Jupyter starts them).
# TEST_WORKERS=1 runs one at a time.
TEST_WORKERS ?= 3
test: setup lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist load --maxschedchunk 1 --durations=15

# Every lesson at the laptop preset (make laptop-run's settings), strict, two at a time: 9 min
# 12 s on the 2-core machine, more than make test can spend. Its result is in tests/README.md.
test-laptop: setup data
	BIRNN_TEST_LAPTOP=1 $(PY) -m pytest -n 2 --dist worksteal tests/test_laptop_preset.py

# The previous TensorFlow minor release, with the Keras 3 that pip installs for it, in its own
# environment: the notebooks in quick mode (the result is recorded in tests/README.md).
PREVIOUS_TF := 2.20.0
PREVIOUS    := .venv-previous
test-previous: data
	@test -x $(PREVIOUS)/bin/python || $(PYTHON) -m venv $(PREVIOUS)
	grep -v -E '^(tensorflow|keras)==' requirements.txt > $(PREVIOUS)/requirements.txt
	$(PREVIOUS)/bin/python -m pip install --quiet tensorflow==$(PREVIOUS_TF) -r $(PREVIOUS)/requirements.txt
	$(PREVIOUS)/bin/python -m pip install --quiet --no-deps -e .
	$(PREVIOUS)/bin/python -c "import tensorflow as tf, keras; print('TensorFlow', tf.__version__, 'Keras', keras.__version__)"
	$(PREVIOUS)/bin/python -m pytest -q -m notebook tests/test_notebooks.py -k quick_mode

lint: setup
	$(PY) -m ruff check utils tests notebooks

lab: setup
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

lab-run: setup data
	$(PY) -m utils.run_notebooks --lab --workers $(RUN_WORKERS)

laptop-run: setup data
	$(PY) -m utils.run_notebooks --laptop --workers $(RUN_WORKERS)

# The auto-graded assignment (otter-grader, no Docker): utils/grading.py.
assignment: setup
	$(PY) utils/grading.py assign

grade: setup
	$(PY) utils/grading.py grade "$(SUBMISSION)"

clean-cache:
	rm -rf data/imdb_cache
