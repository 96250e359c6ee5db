"""harness.tvmcompat.import_tvm: TVM without tvm_ffi's PyTorch import (2.7 s of a 4.8 s import on
the GPU machine, in every builder and runner), PyTorch still importable afterwards.

The PyTorch here is a test double on PYTHONPATH (a package named ``torch`` that notes each import
in a file and then refuses, as an absent PyTorch does, so tvm_ffi carries on)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

FAKE_TORCH = '''import os
with open(os.environ["FAKE_TORCH_MARK"], "a") as f:
    f.write("imported\\n")
raise ImportError("the test double of torch")
'''

SCRIPT = '''import sys
from harness.tvmcompat import import_tvm
import_tvm()
print("tvm", "tvm" in sys.modules)
try:
    import torch
except ImportError as exc:
    print("afterwards:", exc)
'''


@pytest.mark.parametrize("opt_out", ["", "1"])
def test_tvm_is_imported_without_torch_and_torch_imports_afterwards(tmp_path, opt_out):
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text(FAKE_TORCH)
    mark = tmp_path / "mark"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, FAKE_TORCH_MARK=str(mark), TRT_HARNESS_IMPORT_TORCH=opt_out,
               PYTHONPATH=os.pathsep.join([str(tmp_path), root]))
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "tvm True" in out.stdout and "afterwards: the test double of torch" in out.stdout, out.stdout
    # blocked: only the explicit import afterwards reached the double; opted out: TVM's import did too
    tries = mark.read_text().count("imported")
    assert tries == 1 if not opt_out else tries > 1
