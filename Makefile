# The two commands a new user needs (see README): `make suites` and `make test`.
# Everything the harness itself needs is installed from uv.lock (hashes, every supported Python);
# the system under test (TVM) has a default in the lock and can be swapped: see README, "Another TVM".
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
MXNET_VENV ?= .venv-mxnet
COMPAT_VENV ?= .venv-numpy1
# uv itself, pinned, bootstrapped with pip into .uv/ (no other tool is assumed on the machine).
UV_VERSION := 0.13.9
UV := .uv/bin/uv
export UV_PYTHON_DOWNLOADS := never
# Another TVM for the suites, installed over the locked one: a pip requirement or a wheel's path,
# e.g. make suites TVM='apache-tvm==0.26.*'.  TVM_PYTHONPATH puts a source build first instead.
TVM ?=
TVM_PYTHONPATH ?=
# --compile-bytecode: the .pyc files pip would write at install (uv does not by default).  Without
# them every interpreter compiles TVM's, NumPy's and Hypothesis' sources again wherever nothing may
# write them (PYTHONDONTWRITEBYTECODE, a read-only venv): about 0.9 s of CPU per process that
# imports TVM, and the tests start dozens of such processes.  It costs about 4 s at install.
SYNC := $(UV) sync --frozen --compile-bytecode --python $(PY)

$(UV):
	$(PY) -m pip install -q --disable-pip-version-check --target .uv "uv==$(UV_VERSION)"

.PHONY: suites test compat lock lock-check stress-test mxnet-model gpu-sweep gpu-dense
## The lock must describe pyproject.toml: one line and how to refresh it otherwise.
lock-check: $(UV)
	@$(UV) lock --check --offline --python $(PY) >/dev/null 2>&1 || $(UV) lock --check --python $(PY) >/dev/null 2>&1 || \
	  { echo "uv.lock does not match pyproject.toml: run 'make lock' to refresh it (then commit uv.lock)"; exit 2; }

$(BIN)/trt-harness: pyproject.toml uv.lock | $(UV)
	@$(MAKE) --no-print-directory lock-check
	UV_PROJECT_ENVIRONMENT=$(VENV) $(SYNC) --extra test --extra models --group numpy2
	touch $@

## Install, run the op suites on the installed TVM, write reports/results.jsonl, junit.xml and index.html.
suites: $(BIN)/trt-harness
	@if [ -n "$(TVM)" ]; then $(UV) pip install --python $(BIN)/python "$(TVM)"; fi
	PYTHONPATH=$(TVM_PYTHONPATH) $(BIN)/trt-harness run --suite ops $(PYTEST_ARGS); rc=$$?; \
	  [ -f reports/index.html ] && echo "report: reports/index.html"; exit $$rc

## Install and run the harness's own tests, one xdist worker per core (a file stays on one worker,
## so module fixtures such as test_resilience's reference run are made once).
TEST_WORKERS ?= auto
test: $(BIN)/trt-harness
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## Refresh the lock to the newest releases pyproject.toml allows, then run the tests on it.
lock: $(UV)
	$(UV) lock --upgrade --python $(PY)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(SYNC) --extra test --extra models --group numpy2
	$(BIN)/python -m pytest tests

## The harness on numpy 1.23 (the oldest it supports; the GPU machine has numpy 2): the unit
## tests and a small op-suite run in an environment of its own, from the same lock.
compat: $(UV) lock-check
	UV_PROJECT_ENVIRONMENT=$(COMPAT_VENV) $(SYNC) --extra test --group numpy1
	$(COMPAT_VENV)/bin/python -c "import numpy; assert numpy.__version__.startswith('1.23'), numpy.__version__; print('numpy', numpy.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest tests/test_compare.py tests/test_expectations.py tests/test_reader.py \
	  tests/test_table.py tests/test_rules.py -q -p no:cacheprovider
	$(COMPAT_VENV)/bin/python -m pytest suites/ops --trt-ops nn.relu,nn.conv2d,split,sum,nn.max_pool2d \
	  --trt-results $$(mktemp -d)/results.jsonl --trt-report= --trt-build-cache=off -q -p no:cacheprovider

## `make test` five times back to back while two CPU-bound processes run beside it.
stress-test: $(BIN)/trt-harness
	$(BIN)/python tools/stress_test.py --runs 5 --hogs 2 -- make test

## On a GPU machine: the op suites at several seeds, TVM's CUDA build as system under test and
## reference, one table of verdicts (reports/sweep/sweep.md).
SEEDS ?= 0-9
GPU_SWEEP_ARGS ?= -n 16
gpu-sweep:
	$(PY) tools/gpu_sweep.py --seeds $(SEEDS) --profile dev --out reports/sweep -- $(GPU_SWEEP_ARGS) \
	  --trt-backend tvm-cuda --trt-reference tvm-cuda --trt-timing off

## On a GPU machine: every expectation limited to a backend or device (tvm-cuda) validated by one
## run of DENSE_CASES distinct cases of each op it covers, one table (reports/dense/dense.md).
DENSE_CASES ?= 200
gpu-dense:
	$(PY) tools/gpu_dense.py --cases $(DENSE_CASES) --out reports/dense -- $(GPU_SWEEP_ARGS) \
	  --trt-backend tvm-cuda --trt-reference tvm-cuda --trt-timing off

## Export the seed's MXNet ResNet-18 to ONNX in MXNet's own environment (numpy<1.24, onnx<1.16),
## into the model cache that `trt-harness check` and suites/models read.
mxnet-model:
	[ -x $(MXNET_VENV)/bin/python ] || python3.11 -m venv $(MXNET_VENV) || $(PY) -m venv $(MXNET_VENV)
	$(MXNET_VENV)/bin/pip install -q --upgrade pip
	$(MXNET_VENV)/bin/pip install -q "mxnet==1.9.1" "numpy<1.24" "onnx>=1.14,<1.16"
	$(MXNET_VENV)/bin/python tools/export_mxnet_resnet.py
