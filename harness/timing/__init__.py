"""Timings that measure the GPU honestly.

- :mod:`.latency`: host-inclusive latency per call (``measure``, what an application sees);
- :mod:`.device`: device time per call from CUPTI's activity records (kernels, copies, memsets);
- :mod:`.exclusive`: a cross-process lock per physical GPU, held around the timed section;
- :mod:`.run`: :func:`time_run`, the one entry point, returning plain JSON-able data;
- :mod:`.peaks` and :mod:`.roofline`: peaks per GPU model; FLOPs, bytes and fraction of peak per case.

``from harness.timing import measure`` keeps working (this package replaces ``harness/timing.py``).
Nothing here imports TVM or ``cupti`` at import time.
"""
from .latency import measure, summarise
from .run import time_many, time_run

__all__ = ["measure", "summarise", "time_many", "time_run"]
