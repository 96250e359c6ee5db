"""One CUPTI activity-tracing session in this process (NVIDIA's ``cupti-python``, module ``cupti``):
what is enabled, how buffers come back, and exactly why no session could start.  How the records
become device times is :mod:`harness.timing.device`."""
from __future__ import annotations

from .. import trace

#: Activity kinds enabled, in order (names of ``cupti.ActivityKind`` members).
KINDS = ("CONCURRENT_KERNEL", "MEMCPY", "MEMSET")
_LABEL = {"CONCURRENT_KERNEL": "kernel", "KERNEL": "kernel", "MEMCPY": "memcpy", "MEMSET": "memset"}
_BUFFER_BYTES = 8 * 1024 * 1024           # per buffer handed to CUPTI (the NVIDIA samples' size)


class DeviceTimeUnavailable(Exception):
    """No device time could be taken; ``str(exc)`` says exactly why."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError):
        return str(exc)                                    # "No module named 'cupti'"
    return f"{type(exc).__name__}: {exc}"


def load_cupti():
    """The ``cupti.cupti`` bindings module, or DeviceTimeUnavailable with the reason."""
    try:
        from cupti import cupti
    except Exception as exc:  # noqa: BLE001 - any import failure is a reason to report, verbatim
        raise DeviceTimeUnavailable(f"CUPTI unavailable: {_describe(exc)}") from None
    return cupti


def unavailable_reason(device_kind: str = "cuda") -> str | None:
    """None when CUPTI can be tried for ``device_kind``, else exactly why not (no CUDA is touched)."""
    if device_kind not in ("cuda", "gpu"):
        return f"CUPTI unavailable: device kind {device_kind!r} (CUPTI traces CUDA devices only)"
    try:
        load_cupti()
    except DeviceTimeUnavailable as exc:
        return str(exc)
    return None


# CUPTI's buffer callbacks are one pair per process: these two module-level functions are what is
# registered, and they route records to the tracer that is active now (``_SINK``), so a tracer
# started after another (or after someone else registered their own callbacks) still gets its own.
_SINK: dict = {"records": None, "labels": {}}


def _buffer_requested():
    return _BUFFER_BYTES, 0                                # (buffer size, max records: 0 = as many as fit)


def _buffer_completed(activities) -> None:
    out, labels = _SINK["records"], _SINK["labels"]
    if out is None:
        return
    for a in activities:                                   # copied out now: CUPTI reuses the buffer
        label = labels.get(int(a.kind))
        if label is None:
            continue
        name = a.name if label == "kernel" else label
        out.append((label, int(a.start), int(a.end), int(getattr(a, "device_id", -1)), name))


class Tracer:
    """One activity-tracing session in this process.

    ``start()`` registers the buffer callbacks and enables :data:`KINDS`; ``flush()`` forces the
    records out and returns them as ``(label, start_ns, end_ns, device_id, name)`` tuples;
    ``stop()`` flushes and disables what ``start()`` enabled."""

    def __init__(self, cupti) -> None:
        self.cupti = cupti
        self.records: list[tuple] = []
        self.enabled: list = []
        kinds = cupti.ActivityKind
        self._labels = {int(getattr(kinds, k)): _LABEL[k] for k in _LABEL if hasattr(kinds, k)}

    def start(self) -> None:
        c = self.cupti
        _SINK.update(records=self.records, labels=self._labels)
        try:
            c.activity_register_callbacks(_buffer_requested, _buffer_completed)
        except Exception as exc:  # noqa: BLE001
            raise DeviceTimeUnavailable(
                f"CUPTI unavailable: activity_register_callbacks failed: {_describe(exc)}") from None
        for k in KINDS:
            try:
                c.activity_enable(getattr(c.ActivityKind, k))
            except Exception as exc:  # noqa: BLE001
                self.stop()
                raise DeviceTimeUnavailable(
                    f"CUPTI unavailable: activity_enable({k}) failed: {_describe(exc)}") from None
            self.enabled.append(k)

    def pause(self) -> None:
        """Stop recording (the kinds disabled, the callbacks kept): a latency pass runs untraced."""
        for k in reversed(self.enabled):
            self.cupti.activity_disable(getattr(self.cupti.ActivityKind, k))

    def resume(self) -> None:
        for k in self.enabled:
            self.cupti.activity_enable(getattr(self.cupti.ActivityKind, k))

    def take(self) -> list[tuple]:
        """Flush, and hand over (and forget) every record so far: a long-lived tracer's
        accounting (:mod:`harness.runner.server`) keeps its memory flat."""
        self.flush()
        out = list(self.records)
        del self.records[:]
        return out

    def timestamp(self) -> int:
        return int(self.cupti.get_timestamp())

    def flush(self) -> list[tuple]:
        c = self.cupti
        before = len(self.records)
        with trace.span("cupti flush") as args:
            c.activity_flush_all(int(getattr(getattr(c, "ActivityFlag", None), "FLUSH_FORCED", 1)))
            args["records"] = len(self.records) - before     # what a flush costs: per flush or per record
        return self.records

    def stop(self) -> None:
        try:
            if self.enabled:
                self.flush()
        finally:
            for k in reversed(self.enabled):
                try:
                    self.cupti.activity_disable(getattr(self.cupti.ActivityKind, k))
                except Exception:  # noqa: BLE001 - best effort on the way out
                    pass
            self.enabled = []
            if _SINK["records"] is self.records:
                _SINK.update(records=None, labels={})
