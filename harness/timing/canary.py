"""The canary of :mod:`harness.timing.device`: a known piece of device work, to tell "CUPTI saw nothing
because nothing ran" from "CUPTI sees nothing on this device"."""
from __future__ import annotations


def cuda_memset_canary() -> str | None:
    """Issue one 256-byte memset through the CUDA driver on this thread's current context: None
    once issued (and synchronised), else why it could not run."""
    import ctypes

    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError as exc:
        return f"libcuda.so.1 not loadable: {exc}"
    ctx = ctypes.c_void_p()
    if lib.cuCtxGetCurrent(ctypes.byref(ctx)) != 0 or not ctx.value:
        return "no current CUDA context on this thread"
    ptr = ctypes.c_uint64()
    lib.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
    lib.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
    lib.cuMemFree_v2.argtypes = [ctypes.c_uint64]
    if lib.cuMemAlloc_v2(ctypes.byref(ptr), 256) != 0:
        return "cuMemAlloc failed"
    try:
        rc = lib.cuMemsetD8_v2(ptr.value, 0, 256)
        lib.cuCtxSynchronize()
    finally:
        lib.cuMemFree_v2(ptr.value)
    return None if rc == 0 else f"cuMemsetD8 returned {rc}"
