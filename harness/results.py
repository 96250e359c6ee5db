"""Writing results files: the environment fingerprint, the one header builder, the writer, and
the merging of shards (xdist workers' files, CI jobs' files) into one file.

The writer appends and fsyncs each record as soon as its case ends, so a run killed at any
moment leaves a valid file lacking at most the case in flight.  Lines are :mod:`harness.records`
types; :mod:`harness.reader` reads them back with the same types.
"""
from __future__ import annotations

import glob
import os
import platform
import uuid
from typing import Any, Iterable

from . import __version__
from .records import (SCHEMA_NAME, SCHEMA_VERSION, Header, KnownDeparture, LineError, Record, TableOp, decode, encode,
                      now_iso)


def _tvm_facts() -> dict:
    facts: dict[str, Any] = {}
    try:
        import tvm
    except Exception as exc:  # pragma: no cover - exercised only without TVM
        return {"tvm_version": None, "tvm_import_error": f"{type(exc).__name__}: {exc}"}
    facts["tvm_version"] = tvm.__version__
    facts["tvm_has_tensorrt_codegen"] = tvm.get_global_func("relax.ext.tensorrt", allow_missing=True) is not None
    facts["tvm_has_tensorrt_runtime"] = (
        tvm.get_global_func("runtime.tensorrt_runtime_create", allow_missing=True) is not None)
    get_ver = tvm.get_global_func("relax.get_tensorrt_version", allow_missing=True)
    facts["tensorrt_version"] = ".".join(str(v) for v in get_ver()) if get_ver is not None else None
    if not facts["tvm_has_tensorrt_runtime"]:
        facts["tensorrt_absent_reason"] = ("TVM was built without the TensorRT runtime "
                                           "(no runtime.tensorrt_runtime_create)")
    from . import gpu   # asked in a child process: CUDA must not be initialised before fork()

    info = gpu.probe()
    facts["cuda_available"] = bool(info.get("exist"))
    if facts["cuda_available"]:
        facts["gpu"] = info.get("name")
        facts["gpu_compute_version"] = info.get("compute_version")
        facts["gpus"] = info.get("devices", [])
    elif info.get("error"):
        facts["cuda_error"] = info["error"]
    return facts


def _version_of(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(**extra: Any) -> dict:
    """The environment fingerprint written into every results header."""
    import numpy

    env = {
        "harness_version": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "hypothesis": _version_of("hypothesis"),   # its draws change between versions
        "platform": platform.platform(),
        "machine": platform.machine(),
        "hostname": platform.node(),
    }
    env.update(_tvm_facts())
    env.update(extra)
    return env


def table_ops() -> list[TableOp]:
    """The support table as the header records it, so a report reads results alone."""
    from .table import OPS
    from .versions import format_version

    return [TableOp(name=e.name, tvm_op=e.tvm_op, no_equivalent=e.no_equivalent,
                    min_trt=format_version(e.min_trt) if e.min_trt else None) for e in OPS]


def known_departures(expectations) -> list[KnownDeparture]:
    """The expectations a run judges against, as its header records them."""
    out = []
    for e in expectations or ():
        where = "; ".join(x for x in (
            f"backends {','.join(e.backends)}" if e.backends else "", f"devices {','.join(e.devices)}" if e.devices
            else "", f"tvm {e.tvm.text}" if e.tvm else "", f"trt {e.trt.text}" if e.trt else "") if x)
        out.append(KnownDeparture(id=e.id, check=e.check, ops=list(e.ops), reason=e.reason, reproducer=e.reproducer,
                                  outcome=e.outcome, where=where))
    return out


def header(*, suite: str, env: dict, run_id: str | None = None, label: str | None = None,
           shard: str | None = None, placement: dict | None = None, with_table: bool = True,
           expectations=()) -> Header:
    """The one header builder: every producer (op suites, models, fuzz, bench, merge) uses it."""
    return Header(schema=SCHEMA_NAME, schema_version=SCHEMA_VERSION, run_id=run_id or uuid.uuid4().hex[:12],
                  created=now_iso(), suite=suite, env=env, label=label, ops=table_ops() if with_table else [],
                  shard=shard, placement=dict(placement or {}), expectations=known_departures(expectations))


class ResultsWriter:
    """Appends lines to a JSON Lines file, flushing and fsyncing each one.

    A file that already holds records is appended to (``resume``), after a new header marked
    ``resumed`` with the same run id; a new file starts with the header.  Records already written
    are never rewritten.
    """

    def __init__(self, path: str | os.PathLike, head: Header, *, resume: bool = False) -> None:
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or ".", exist_ok=True)
        exists = os.path.exists(self.path) and os.path.getsize(self.path) > 0
        if exists and not resume:
            raise FileExistsError(self.path)
        if exists:
            previous = _first_header(self.path)
            if previous is not None:
                head.run_id = previous.run_id
            head.resumed = True
        self._fh = open(self.path, "ab")
        if exists:
            self._repair_tail()
        self.header = head
        self._write(encode(head))

    def _repair_tail(self) -> None:
        """A SIGKILL mid-write can leave a partial last line: end it so the next line is whole."""
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return
            fh.seek(-1, os.SEEK_END)
            last = fh.read(1)
        if last != b"\n":
            self._fh.write(b"\n")
            self._fh.flush()

    @property
    def run_id(self) -> str:
        return self.header.run_id

    def _write(self, line: bytes) -> None:
        self._fh.write(line + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write(self, record: Record) -> None:
        record.run_id = self.run_id
        if not record.time:
            record.time = now_iso()
        self._write(encode(record))

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


def _first_header(path: str) -> Header | None:
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        line = decode(first)
    except LineError:
        return None
    return line if isinstance(line, Header) else None


def _lines(path: str) -> Iterable[object]:
    """Typed lines of a shard; a partial or invalid line (a worker killed mid-write) is skipped."""
    with open(path, "rb") as fh:
        for raw in fh:
            raw = raw.strip()
            if not raw:
                continue
            try:
                yield decode(raw)
            except LineError:
                continue


def append_shards(base: str, shards: list[str], *, run_id: str | None = None, remove: bool = True) -> int:
    """Append the records of ``shards`` that ``base`` lacks to ``base`` (keyed by case and check;
    a later shard's record of the same pair is a duplicate and is dropped), then delete the shards.

    Used for xdist workers' files at the end of a run and for the files a killed run left behind.
    The records take ``run_id`` (default: the base file's).  Returns the number appended."""
    have: set = set()
    head = None
    if os.path.exists(base) and os.path.getsize(base) > 0:
        for line in _lines(base):
            if isinstance(line, Record):
                have.add((line.op, line.case_id, line.check))
            elif head is None:
                head = line
    out = []
    for shard in shards:
        for line in _lines(shard):
            if isinstance(line, Header):
                if head is None:
                    head = line
                    if run_id:
                        head.run_id = run_id
                    out.append(encode(head))
                continue
            key = (line.op, line.case_id, line.check)
            if key in have:
                continue
            have.add(key)
            line.run_id = run_id or (head.run_id if head is not None else line.run_id)
            out.append(encode(line))
    if out:
        with open(base, "ab") as fh:
            if fh.tell():
                with open(base, "rb") as check:
                    check.seek(-1, os.SEEK_END)
                    if check.read(1) != b"\n":
                        fh.write(b"\n")
            fh.write(b"\n".join(out) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
    if remove:
        for shard in shards:
            os.remove(shard)
    return sum(1 for line in out if b'"kind":"record"' in line)


def worker_shards(base: str) -> list[str]:
    return sorted(glob.glob(glob.escape(base) + ".gw*"))


#: Settings the parts of one run must share to be merged into one (from their headers' env).
_SAME_RUN = ("hypothesis_profile", "hypothesis_seed", "trt_version", "implicit_batch", "harness_version",
             "tvm_version", "backend", "reference", "plan")


def merge_files(paths: list[str], out: str, *, label: str | None = None) -> tuple[int, list[str]]:
    """Join the results files of the N jobs of one sharded run (``--trt-shard K/N``) into ``out``,
    which the gate and the report then read as one run.  Returns (records, warnings).

    The parts must have been run with the same settings (seed, profile, targeted TensorRT, harness
    and TVM versions, backends); a (op, case, check) recorded by two parts is kept once (the last)
    and reported as a warning.  ``out`` is written to a temporary file and renamed."""
    import tempfile

    from .errors import InputError
    from .reader import load_results

    if not paths:
        raise InputError("merge: no results files given")
    runs = [load_results(p) for p in paths]
    first = runs[0].env
    for path, run in zip(paths[1:], runs[1:]):
        for key in _SAME_RUN:
            if run.env.get(key) != first.get(key):
                raise InputError(f"{path}: cannot merge: {key} is {run.env.get(key)!r}, but {paths[0]} has "
                                 f"{first.get(key)!r} (not parts of one run)")
    shards = sorted(h.shard for r in runs for h in r.headers[:1] if h.shard)
    warnings = [w for r in runs for w in r.warnings]
    head = header(suite=runs[0].headers[0].suite, env={**first, "merged_from": [os.path.abspath(p) for p in paths],
                                                       "merged_shards": shards},
                  label=label or runs[0].headers[0].label, placement=runs[0].headers[0].placement)
    head.ops = runs[0].headers[0].ops
    head.expectations = runs[0].headers[0].expectations
    seen: dict = {}
    for path, run in zip(paths, runs):
        for rec in run.records:
            key = (rec.op, rec.case_id, rec.check)
            if key in seen and not _same_skip(seen[key][1], rec):
                warnings.append(f"{path}: {rec.op} {rec.case_id} {rec.check} also in {seen[key][0]}; kept this one")
            seen[key] = (path, rec)
    directory = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".merge-", suffix=".jsonl", dir=directory)
    os.close(fd)
    os.unlink(tmp)
    try:
        writer = ResultsWriter(tmp, head)
        for _, rec in seen.values():
            writer.write(rec)
        writer.close()
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return len(seen), warnings


def _same_skip(a: Record, b: Record) -> bool:
    """The same skip recorded by two parts: each shard records once per op that the tensorrt check
    cannot run here (case ``<op>-*``), which is no conflict."""
    return a.outcome == b.outcome == "skip" and a.reason == b.reason


def note_gpu_use(path: str, uses: list[dict]) -> str | None:
    """Put the runners' accounting (:class:`harness.records.GpuUse`) into this run's header, the
    last header of ``path``, known only when the run ends.  The file is written anew beside itself
    and renamed over it, so a failure leaves it as it was; no record changes.  Returns None, or why
    it could not."""
    from .records import GpuUse

    try:
        with open(path, "rb") as fh:
            lines = fh.read().split(b"\n")
        at = max(i for i, raw in enumerate(lines) if b'"kind":"header"' in raw)
        head = decode(lines[at])
        head.gpu_use = [GpuUse(**{k: v for k, v in u.items() if k in GpuUse.__struct_fields__}) for u in uses]
        lines[at] = encode(head)
        tmp = f"{path}.gpu-use.tmp"
        with open(tmp, "wb") as fh:
            fh.write(b"\n".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, ValueError, LineError, TypeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
