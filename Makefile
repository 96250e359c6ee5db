# The two commands a new user needs (see README): `make suites` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

$(BIN)/trt-harness: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,mxnet]"
	touch $@

.PHONY: suites test
## Install, run the op suites on the installed TVM, write reports/results.jsonl, junit.xml and index.html.
suites: $(BIN)/trt-harness
	$(BIN)/trt-harness run --suite ops $(PYTEST_ARGS); rc=$$?; \
	  [ -f reports/index.html ] && echo "report: reports/index.html"; exit $$rc

## Install and run the harness's own tests.
test: $(BIN)/trt-harness
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)
