# uqviz: `make run` serves the dashboard, `make test` runs the test suite.
# Both create .venv when missing and install only when a requirements file changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
export UQVIZ_TORCH_THREADS ?= 1
# test processes (pytest-xdist; a test file stays on one worker): three on CI's two cores, since
# browser tests and model workers spend much of their time waiting (two used 1.4 of 2 cores)
TEST_WORKERS ?= 3

.PHONY: run test lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) benchmarks/bench_core.py

clean:
	rm -rf $(VENV) .pytest_cache artifacts
