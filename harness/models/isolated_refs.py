"""The references of ``trt-harness check`` run in a child process of their own (the one process
isolator, :mod:`harness.isolate`), so a reference that crashes (a segfault of ONNX Runtime) or
hangs is a named ``failed`` entry and the other references, the verdict and the results file are
kept: nothing is lost."""
from __future__ import annotations

from typing import Sequence

from . import references
from .references import Reference, _runner_name


def isolated_runners(isolator, paths: Sequence[str] | None = None, *, timeout: float = 600.0) -> list:
    """Runners for :func:`harness.models.references.run_references` that call each reference
    (an import path ``module:function``; default: the default runners) in ``isolator``'s worker."""
    if paths is None:
        paths = [f"{fn.__module__}:{fn.__name__}" for fn in references.DEFAULT_RUNNERS]
    out = []
    for path in paths:
        from ..isolate import resolve

        name = _runner_name(resolve(path))

        def run(model, inputs, _path=path, _name=name):
            answer = isolator.call(_path, model, dict(inputs), timeout=timeout)
            if answer.ok:
                return answer.value
            return Reference(_name, "failed", reason=f"the reference's process {answer.error_kind}ed: {answer.reason}",
                             seconds=answer.elapsed_s)
        run.reference_name = name
        out.append(run)
    return out
