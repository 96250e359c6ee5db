# The two commands a new user needs (see README): `make suites` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
MXNET_VENV ?= .venv-mxnet
COMPAT_VENV ?= .venv-numpy1

$(BIN)/trt-harness: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test,models]"
	touch $@

.PHONY: suites test compat stress-test mxnet-model
## Install, run the op suites on the installed TVM, write reports/results.jsonl, junit.xml and index.html.
suites: $(BIN)/trt-harness
	$(BIN)/trt-harness run --suite ops $(PYTEST_ARGS); rc=$$?; \
	  [ -f reports/index.html ] && echo "report: reports/index.html"; exit $$rc

## Install and run the harness's own tests.
test: $(BIN)/trt-harness
	$(BIN)/python -m pytest tests $(PYTEST_ARGS)

## The harness on numpy 1.23 (the oldest it supports; the GPU machine has numpy 2): the unit
## tests and a small op-suite run in an environment of its own.
compat:
	[ -x $(COMPAT_VENV)/bin/python ] || $(PY) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/pip install -q --upgrade pip
	$(COMPAT_VENV)/bin/pip install -q -e ".[test]" "numpy>=1.23,<1.24"
	$(COMPAT_VENV)/bin/python -c "import numpy; assert numpy.__version__.startswith('1.23'), numpy.__version__; print('numpy', numpy.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest tests/test_compare.py tests/test_expectations.py tests/test_reader.py \
	  tests/test_table.py tests/test_rules.py -q -p no:cacheprovider
	$(COMPAT_VENV)/bin/python -m pytest suites/ops --trt-ops nn.relu,nn.conv2d,split,sum,nn.max_pool2d \
	  --trt-results reports/compat/results.jsonl --trt-report= --trt-build-cache=off -q -p no:cacheprovider

## `make test` five times back to back while two CPU-bound processes run beside it.
stress-test: $(BIN)/trt-harness
	$(BIN)/python tools/stress_test.py --runs 5 --hogs 2 -- make test

## Export the seed's MXNet ResNet-18 to ONNX in MXNet's own environment (numpy<1.24, onnx<1.16),
## into the model cache that `trt-harness check` and suites/models read.
mxnet-model:
	[ -x $(MXNET_VENV)/bin/python ] || python3.11 -m venv $(MXNET_VENV) || $(PY) -m venv $(MXNET_VENV)
	$(MXNET_VENV)/bin/pip install -q --upgrade pip
	$(MXNET_VENV)/bin/pip install -q "mxnet==1.9.1" "numpy<1.24" "onnx>=1.14,<1.16"
	$(MXNET_VENV)/bin/python tools/export_mxnet_resnet.py
