"""Exclusive timing per GPU across processes.

pytest-xdist workers (and two runs started side by side) share a card; a timing taken while
another process's kernels run on the same GPU measures both.  Around each timed section (warm-up
included) a worker takes an exclusive ``fcntl.flock`` on one lock file per physical GPU, in a
directory every worker sees (by default ``$TRT_HARNESS_GPU_LOCK_DIR`` or
``<tempdir>/trt-harness-gpu-locks``: one machine, one directory, so separate runs on the same host
exclude each other too).  The file is named after the GPU's identity, not its index, because
``CUDA_VISIBLE_DEVICES`` renumbers devices per process: the PCI bus id from the CUDA driver
(``cuDeviceGetPCIBusId``), else the ``CUDA_VISIBLE_DEVICES`` entry (an index or a UUID), else the
device index as this process sees it (said in ``key_source``).  The time spent waiting is recorded.
flock is released by the kernel when the process dies, so a crashed worker never wedges the rest.

Other GPU work of the run (the checks' own runs on the GPU) takes the same lock *shared*
(:func:`shared_gpu`): a timing waits until no other worker runs on the GPU, and while it holds the
lock no other worker starts running there.  A turnstile file keeps a waiting timing from being
starved by a stream of shared holders: a timing holds the turnstile while it waits for the GPU,
and a shared holder passes through the turnstile before it takes its shared lock.
"""
from __future__ import annotations

import fcntl
import os
import re
import tempfile
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

ENV_LOCK_DIR = "TRT_HARNESS_GPU_LOCK_DIR"
_held: dict[str, int] = {}          # keys this process holds now -> depth (nested time_run calls)
_held_guard = threading.Lock()


def default_lock_dir() -> str:
    return os.environ.get(ENV_LOCK_DIR) or os.path.join(tempfile.gettempdir(), "trt-harness-gpu-locks")


def _pci_bus_id(device_index: int) -> tuple[str | None, str | None]:
    """(PCI bus id, None) from the CUDA driver, or (None, why not)."""
    import ctypes

    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return None, f"libcuda.so.1 not loadable ({exc})"
    if lib.cuInit(0) != 0:
        return None, "cuInit failed"
    dev = ctypes.c_int()
    if lib.cuDeviceGet(ctypes.byref(dev), int(device_index)) != 0:
        return None, f"cuDeviceGet({device_index}) failed"
    buf = ctypes.create_string_buffer(64)
    if lib.cuDeviceGetPCIBusId(buf, 64, dev) != 0:
        return None, "cuDeviceGetPCIBusId failed"
    return buf.value.decode(), None


def gpu_identity(device_index: int, *, pci_bus_id: Callable[[int], tuple] = _pci_bus_id) -> dict:
    """``{"key": ..., "key_source": ...}`` naming the physical GPU behind ``device_index``."""
    bus, why = pci_bus_id(device_index)
    if bus:
        return {"key": f"pci-{bus.lower()}", "key_source": "PCI bus id (cuDeviceGetPCIBusId)"}
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    entries = [e.strip() for e in visible.split(",")] if visible else []
    if 0 <= device_index < len(entries) and entries[device_index]:
        return {"key": f"cvd-{entries[device_index]}",
                "key_source": f"CUDA_VISIBLE_DEVICES entry {device_index} (no PCI bus id: {why})"}
    return {"key": f"cuda{device_index}",
            "key_source": f"device index {device_index} (no PCI bus id: {why}; CUDA_VISIBLE_DEVICES unset)"}


def lock_path(lock_dir: str, key: str) -> str:
    return os.path.join(lock_dir, "gpu-" + re.sub(r"[^A-Za-z0-9._-]", "_", key) + ".lock")


@contextmanager
def exclusive_gpu(key: str, lock_dir: str | None = None, *,
                  on_contended: Callable[[], None] | None = None) -> Iterator[dict]:
    """Hold the exclusive lock of GPU ``key`` for the ``with`` block.

    Yields ``{"exclusive", "path", "waited_s", "contended", "reason"}``: ``exclusive`` is False
    (with the reason) when the lock could not be taken, and the block then runs unlocked: a timing
    is still taken, and says it was not exclusive.  ``on_contended`` is called once, before
    blocking, when another process holds the lock."""
    lock_dir = lock_dir or default_lock_dir()
    path = lock_path(lock_dir, key)
    info = {"exclusive": False, "path": path, "waited_s": 0.0, "contended": False, "reason": None}
    with _held_guard:
        nested = key in _held
        if nested:
            _held[key] += 1
    if nested:
        info.update(exclusive=True, reason="already held by this process (nested timing)")
        try:
            yield info
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    fd = gate = None
    try:
        os.makedirs(lock_dir, exist_ok=True)
        gate = os.open(path + ".turnstile", os.O_RDWR | os.O_CREAT, 0o666)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        t0 = time.perf_counter()

        def contended():
            if not info["contended"]:
                info["contended"] = True
                if on_contended is not None:
                    on_contended()

        try:                                      # the turnstile: new shared holders wait behind us
            fcntl.flock(gate, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            contended()
            fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            contended()
            fcntl.flock(fd, fcntl.LOCK_EX)
        fcntl.flock(gate, fcntl.LOCK_UN)          # we hold the GPU: the others wait on it now
        info["waited_s"] = time.perf_counter() - t0
        info["exclusive"] = True
    except OSError as exc:
        info["reason"] = f"lock not taken ({type(exc).__name__}: {exc}); timed without exclusion"
        if fd is not None:
            os.close(fd)
            fd = None
        if gate is not None:
            os.close(gate)
            gate = None
    if fd is not None:
        with _held_guard:
            _held[key] = 1
    try:
        yield info
    finally:
        if fd is not None:
            with _held_guard:
                _held.pop(key, None)
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
        if gate is not None:
            os.close(gate)                        # closing releases the turnstile


@contextmanager
def shared_gpu(key: str, lock_dir: str | None = None) -> Iterator[None]:
    """Hold GPU ``key``'s lock shared for the ``with`` block: work on the GPU that is not a timing.

    Waits while a timing holds the GPU (or waits for it); never fails the work: when the lock cannot
    be taken the block runs anyway.  Inside this process's own timing it takes nothing."""
    with _held_guard:
        mine = key in _held
    if mine:
        yield
        return
    lock_dir = lock_dir or default_lock_dir()
    path = lock_path(lock_dir, key)
    fd = None
    try:
        os.makedirs(lock_dir, exist_ok=True)
        gate = os.open(path + ".turnstile", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(gate, fcntl.LOCK_EX)      # pass the turnstile: wait behind a waiting timing
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(gate)
    except OSError:
        if fd is not None:
            os.close(fd)
            fd = None
    try:
        yield
    finally:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
