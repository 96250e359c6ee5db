"""Which CUDA GPUs TVM can use, and which one this process is pinned to.

Asked in a short-lived child process: asking in-process would initialise CUDA in the pytest
process, and CUDA does not survive fork() (the isolated case worker is forked from it).  The
answer is cached for the process.  It also gives the CUDA target TVM parses for device 0
(:func:`cuda_target`), so the builders compile for the card without asking it.

Pinning: on a host with several GPUs each pytest-xdist worker takes one, round robin over the
visible devices (``gw0`` -> the first, ``gw1`` -> the second, ...), by setting
``CUDA_VISIBLE_DEVICES`` before anything in that worker touches CUDA; its isolated case worker
inherits it.  Inside a pinned process the GPU is ``cuda:0``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import lru_cache

_PROBE = (   # without tvm_ffi's PyTorch import, as harness.tvmcompat.import_tvm
    "import json, os, sys\n"
    "if 'torch' not in sys.modules and not os.environ.get('TRT_HARNESS_IMPORT_TORCH'): sys.modules['torch'] = None\n"
    "import tvm\n"
    "devs = []\n"
    "for i in range(64):\n"
    "    d = tvm.cuda(i)\n"
    "    if not d.exist: break\n"
    "    devs.append({'index': i, 'name': d.device_name, 'compute_version': d.compute_version})\n"
    "target = None\n"
    "if devs:\n"
    "    try: target = str(tvm.target.Target('cuda'))\n"      # parsed against device 0: its arch
    "    except Exception: pass\n"
    "print(json.dumps({'exist': bool(devs), 'name': devs[0]['name'] if devs else None,"
    " 'compute_version': devs[0]['compute_version'] if devs else None, 'count': len(devs), 'devices': devs,"
    " 'cuda_target': target}))\n"
)
PINNED_ENV = "TRT_HARNESS_PINNED_GPU"
PROBE_ENV = "TRT_HARNESS_GPU_PROBE"     # the controller's answer, for its workers (same visible devices)


def _driver_missing() -> str | None:
    """Why there can be no CUDA GPU, found without starting CUDA or TVM (loading the driver library
    does not initialise CUDA, so fork() stays safe): the common case on CPU machines."""
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return f"no CUDA driver on this machine (libcuda.so.1 cannot be loaded: {exc})"
    return None


_started: subprocess.Popen | None = None


def _shared() -> dict | None:
    """The controller's answer (share_probe), where this process sees the same devices."""
    shared = os.environ.get(PROBE_ENV)
    if shared:
        try:
            got = json.loads(shared)
            if got.get("cvd") == os.environ.get("CUDA_VISIBLE_DEVICES"):
                return got
        except ValueError:
            pass
    return None


def _spawn_probe() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_probe() -> None:
    """Start asking now, answer later (:func:`probe` waits): the child imports TVM and starts CUDA
    (seconds on a GPU machine) while this process imports TVM and draws the plan."""
    global _started
    if _started is None and not _shared() and not _driver_missing() and probe.cache_info().currsize == 0:
        try:
            _started = _spawn_probe()
        except OSError:
            _started = None


@lru_cache(maxsize=1)
def probe() -> dict:
    got = _shared()
    if got:         # asked once for the run (share_probe): no child process, no CUDA context here
        return got
    missing = _driver_missing()
    if missing:
        return {"exist": False, "count": 0, "error": missing}
    global _started
    from . import trace

    with trace.span("gpu probe child"):
        try:
            proc, _started = _started or _spawn_probe(), None
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            proc.communicate()
            return {"exist": False, "count": 0, "error": f"CUDA probe failed: {exc}"}
        except OSError as exc:
            return {"exist": False, "count": 0, "error": f"CUDA probe failed: {exc}"}
    if proc.returncode != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return {"exist": False, "count": 0, "error": f"TVM cannot query CUDA: {last[:200]}"}
    try:
        return json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"exist": False, "count": 0, "error": f"CUDA probe gave no answer: {stdout[-200:]!r}"}


def share_probe() -> None:
    """Hand this process's answer to the processes it starts (xdist workers, their case workers, the
    runners): each would otherwise ask in a child of its own, a Python, TVM and a CUDA context each.
    Valid while ``CUDA_VISIBLE_DEVICES`` stays as it is (a pinned worker asks again)."""
    os.environ[PROBE_ENV] = json.dumps({**probe(), "cvd": os.environ.get("CUDA_VISIBLE_DEVICES")})


def cuda_target() -> str | None:
    """The CUDA target TVM parses on this machine for device 0, exactly as the probe's child process
    got it (``str(tvm.target.Target("cuda"))``, e.g. arch sm_90 on an H100, sm_90a on a TVM that
    adds the suffix): the one place the harness's CUDA builds take their target from
    (:meth:`harness.backends.Backend.compile_target`).  Parsing "cuda" in a builder would ask
    device 0 for its compute version, i.e. start CUDA (a context, GPU memory) there.  None where it
    is not known: no GPU, or a probe answer without it."""
    info = probe()
    return (info.get("cuda_target") or None) if info.get("exist") else None


def unavailable_reason() -> str | None:
    info = probe()
    if info.get("exist"):
        return None
    return info.get("error") or "no CUDA GPU visible to TVM (tvm.cuda(0).exist is False)"


def _visible() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None and env.strip():
        return [d.strip() for d in env.split(",") if d.strip()]
    return [str(d["index"]) for d in probe().get("devices", [])]


def _slot(worker: str) -> int:
    """The worker's number (``gw3`` -> 3): the round robin is over it, not over list order."""
    return int(worker[2:]) if worker[2:].isdigit() else 0


def placement(workers: list[str]) -> dict[str, str]:
    """worker id -> the GPU :func:`pin` gives it (round robin over the visible GPUs by number)."""
    devices = probe().get("devices", [])
    visible = _visible()
    if not devices or not visible:
        return {}
    return {w: f"cuda:{visible[_slot(w) % len(visible)]} {devices[_slot(w) % len(devices)]['name']}"
            for w in workers}


def pin(worker: str | None) -> str | None:
    """Pin this process to its GPU (before CUDA is touched); returns a description, or None."""
    if not worker or not worker.startswith("gw") or os.environ.get(PINNED_ENV):
        return os.environ.get(PINNED_ENV)
    visible = _visible()
    if not visible or not probe().get("exist"):
        return None
    index = _slot(worker)
    chosen = visible[index % len(visible)]
    name = probe()["devices"][index % len(probe()["devices"])]["name"]
    os.environ["CUDA_VISIBLE_DEVICES"] = chosen
    os.environ[PINNED_ENV] = f"cuda:{chosen} {name}"
    return os.environ[PINNED_ENV]


def assigned_index() -> int:
    """The device index to use inside this process (0 once pinned)."""
    return 0


def describe() -> str | None:
    """This process's GPU, for records: "cuda:1 NVIDIA H200" (None without a GPU)."""
    if os.environ.get(PINNED_ENV):
        return os.environ[PINNED_ENV]
    info = probe()
    if not info.get("exist"):
        return None
    visible = _visible()
    return f"cuda:{visible[0] if visible else 0} {info.get('name')}"
