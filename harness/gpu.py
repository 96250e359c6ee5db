"""Is there a CUDA GPU TVM can use?  Asked in a short-lived child process.

Asking in-process would initialise CUDA in the pytest process, and CUDA does not survive fork():
the isolated case worker (harness/isolate.py), forked from it, would then fail every CUDA call
with cudaErrorInitializationError.  The answer is cached for the process (and inherited by forks).
"""
from __future__ import annotations

import json
import subprocess
import sys
from functools import lru_cache

_PROBE = (
    "import json, tvm\n"
    "d = tvm.cuda(0)\n"
    "ok = bool(d.exist)\n"
    "print(json.dumps({'exist': ok, 'name': d.device_name if ok else None,"
    " 'compute_version': d.compute_version if ok else None}))\n"
)


@lru_cache(maxsize=1)
def probe() -> dict:
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"exist": False, "error": f"CUDA probe failed: {exc}"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"exist": False, "error": f"TVM cannot query CUDA: {last[:200]}"}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"exist": False, "error": f"CUDA probe gave no answer: {proc.stdout[-200:]!r}"}


def unavailable_reason() -> str | None:
    info = probe()
    if info.get("exist"):
        return None
    return info.get("error") or "no CUDA GPU visible to TVM (tvm.cuda(0).exist is False)"
