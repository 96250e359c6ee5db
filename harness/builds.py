"""Compiling programs: many at once, and once across runs.

:func:`compile_many` compiles a set of modules for one backend.  Where the backend allows, they
are merged into one module (:func:`harness.program.merge`) and compiled once: TVM's per-module
cost (the pass pipeline, LLVM's JIT or nvcc) is paid once for a whole chunk of cases.  A merged
build that raises falls back to one build per module, so a failure is still attributed to its
case and stage.  The optimisation level is never lowered: TVM's default pipeline builds each.

:class:`BuildCache` keeps compiled libraries on disk between runs, keyed by the module (its
printed text and structural hash, which covers constant data), TVM's build, the target and the
pass context.  A hit loads a shared library (~1 ms) instead of building (~50 ms to seconds).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass

DEFAULT_CACHE_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                 "tvm-trt-harness", "builds")
MAX_CACHE_BYTES = 2 * 1024**3


class CompileFailure(Exception):
    """TVM raised while compiling a module it had accepted; the message names the stage."""


@dataclass
class Built:
    executable: object          # a relax executable or a loaded library
    entry: str                  # the function to call, e.g. "c3_main" in a batch
    build_s: float              # this program's share of the build
    cached: bool = False
    batch: int = 1              # how many programs were compiled together
    path: str | None = None     # the library on disk (the build cache's), for a runner to load


def one_line(exc: BaseException) -> str:
    """TVM's message on one line: the line that states the error, not the module dump."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    informative = [ln for ln in lines if not ln.startswith("#") and ("Error" in ln or "Check failed" in ln)]
    text = informative[-1] if informative else (lines[0] if lines else "")
    from .errors import describe

    return describe(exc, text)[:400]


class BuildCache:
    """Compiled libraries on disk, keyed by what determines them (see the module docstring)."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.hits = self.misses = 0
        if directory:
            os.makedirs(directory, exist_ok=True)

    @property
    def enabled(self) -> bool:
        return bool(self.directory)

    @staticmethod
    def key(mod, target: str) -> str:
        import tvm
        import tvm_ffi

        ctx = tvm.transform.PassContext.current()
        facts = {"tvm": tvm.__version__, "target": str(target), "opt_level": int(ctx.opt_level),
                 "config": {str(k): str(v) for k, v in dict(ctx.config).items()},
                 "shash": int(tvm_ffi.structural_hash(mod))}
        blob = json.dumps(facts, sort_keys=True).encode() + mod.script().encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, f"{key}.so")

    def load(self, key: str):
        if not self.enabled:
            return None
        path = self._path(key)
        if not os.path.exists(path):
            self.misses += 1
            return None
        import tvm

        try:
            lib = tvm.runtime.load_module(path)
        except Exception:       # a corrupt or foreign file: rebuild, and replace it
            self.misses += 1
            return None
        os.utime(path)
        self.hits += 1
        return lib

    def store(self, key: str, executable):
        """Export ``executable`` into the cache and return the loaded library (or the executable
        itself when it cannot be exported)."""
        if not self.enabled:
            return executable
        import tvm

        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".so", dir=self.directory)
        os.close(fd)
        try:
            executable.export_library(tmp)
            os.replace(tmp, self._path(key))
            return tvm.runtime.load_module(self._path(key))
        except Exception:
            if os.path.exists(tmp):
                os.unlink(tmp)
            return executable

    def prune(self, max_bytes: int = MAX_CACHE_BYTES) -> int:
        """Remove the least recently used libraries beyond ``max_bytes``; returns the count."""
        if not self.enabled:
            return 0
        files = []
        for name in os.listdir(self.directory):
            if name.endswith(".so") and not name.startswith(".tmp-"):
                path = os.path.join(self.directory, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, path in sorted(files):
            if total <= max_bytes:
                break
            try:
                os.remove(path)
            except OSError:
                continue
            total -= size
            removed += 1
        return removed


def _compile(backend, mod, cache: BuildCache):
    """(executable, from the cache?, its library on disk or None)."""
    key = BuildCache.key(mod, backend.compile_target()) if cache.enabled else None   # the target used
    hit = cache.load(key) if key else None
    if hit is not None:
        return hit, True, cache._path(key)
    ex = backend.compile(mod)
    if not key:
        return ex, False, None
    stored = cache.store(key, ex)
    return stored, False, (cache._path(key) if stored is not ex else None)


def compile_many(backend, modules: dict[str, object], cache: BuildCache, *, stage: str) -> dict[str, object]:
    """Compile ``modules`` (prefix -> IRModule) for ``backend``: all in one batch; a batch that
    fails is retried in groups of one :func:`harness.program.signature` (modules alike in ops,
    dtypes and layouts), and a group that fails case by case, so a failure is attributed to its
    case while the cases that compile still share a build.

    Returns prefix -> :class:`Built`, or prefix -> :class:`CompileFailure` for a module TVM could
    not compile.  ``stage`` names what is being compiled, for the failure's message."""
    if not modules:
        return {}
    if not (backend.batchable and len(modules) > 1):
        return _one_by_one(backend, modules, cache, stage)
    from . import program

    built = _batch(backend, modules, cache)
    if built is not None:
        return built
    groups: dict[tuple, dict[str, object]] = {}
    for prefix, mod in modules.items():
        try:
            key = program.signature(mod)
        except Exception:    # a module the signature cannot read: a group of its own
            key = ("?", prefix)
        groups.setdefault(key, {})[prefix] = mod
    out: dict[str, object] = {}
    for group in groups.values():
        got = _batch(backend, group, cache) if 1 < len(group) < len(modules) else None
        out.update(got if got is not None else _one_by_one(backend, group, cache, stage))
    return out


def _batch(backend, modules: dict[str, object], cache: BuildCache) -> dict[str, object] | None:
    """One build of every module merged, or None when it fails."""
    from . import program

    t0 = time.perf_counter()
    try:
        ex, cached, path = _compile(backend, program.merge(modules), cache)
    except Exception:
        return None
    share = (time.perf_counter() - t0) / len(modules)
    return {p: Built(ex, f"{p}main", share, cached, len(modules), path) for p in modules}


def _one_by_one(backend, modules: dict[str, object], cache: BuildCache, stage: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for prefix, mod in modules.items():
        t0 = time.perf_counter()
        try:
            ex, cached, path = _compile(backend, mod, cache)
        except Exception as exc:  # TVM raises many kinds: all mean "TVM could not compile it"
            out[prefix] = CompileFailure(f"{stage} for {backend.name}: {one_line(exc)}")
            continue
        out[prefix] = Built(ex, "main", time.perf_counter() - t0, cached, 1, path)
    return out
