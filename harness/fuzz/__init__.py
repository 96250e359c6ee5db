"""Fuzzing multi-op Relax programs at the TensorRT partition boundaries.

* :mod:`harness.fuzz.graphs`  the programs: op generators (ops from the support table), the
  ``programs()`` Hypothesis strategy, ``build(spec) -> Program``;
* :mod:`harness.fuzz.check`   one program through the shared pipeline, its findings, judged
  against the known departures (:func:`harness.expectations.judge`) and turned into records;
* :mod:`harness.fuzz.minimize` the spec-level minimizer (drop nodes, cut chains), after Hypothesis;
* :mod:`harness.fuzz.repros`  stored findings: reproducer (:func:`harness.repro.write`) and spec;
* :mod:`harness.fuzz.run`     the time-boxed run (``trt-harness fuzz``), in the shared isolator.
"""
