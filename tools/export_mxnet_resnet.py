#!/usr/bin/env python
"""Export the seed's worked example, MXNet Gluon ResNet-18 v1, to ONNX, with MXNet's own output.

Runs only inside the MXNet environment (mxnet==1.9.1, numpy<1.24, onnx<1.16: mxnet's ONNX
exporter needs those); the main environment only reads what this writes (see
``harness/models/mxnet_resnet.py``).  Per seed it writes, into the cache directory
(``$TRT_HARNESS_CACHE`` or ``~/.cache/tvm-trt-harness/models/``)::

    resnet18_v1-seed0.onnx   the exported model
    resnet18_v1-seed0.npz    input.data (1x3x224x224 float32) and output.0 (MXNet's 1x1000 output)
    resnet18_v1-seed0.json   versions (mxnet, numpy, onnx, python), sha256 of both files, shapes

The JSON is written last, so a cache entry without it is incomplete.  The weights are seeded
exactly as the harness did when it exported in-process: ``pretrained=False``,
``mx.random.seed(seed)`` with Xavier initialisation, then every BatchNorm's gamma, beta and
running statistics overwritten from ``numpy.random.default_rng(seed)`` (in sorted parameter
order) so that no BatchNorm is an identity; the input is ``default_rng(seed + 1)`` uniform in
[0, 1).

Usage: ``python tools/export_mxnet_resnet.py [--seed 0 ...] [--out DIR] [--force]``
"""
from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import sys
import tempfile

MODEL = "resnet18_v1"
INPUT_NAME = "data"
INPUT_SHAPE = (1, 3, 224, 224)
CACHE_ENV = "TRT_HARNESS_CACHE"


def cache_dir() -> str:
    return os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache",
                                                      "tvm-trt-harness", "models")


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export(seed: int, out_dir: str, *, force: bool = False) -> dict:
    import mxnet as mx
    import numpy as np
    import onnx
    from mxnet.gluon.model_zoo.vision import get_model

    stem = os.path.join(out_dir, f"{MODEL}-seed{seed}")
    if not force and all(os.path.exists(stem + ext) for ext in (".onnx", ".npz", ".json")):
        with open(stem + ".json") as fh:
            return json.load(fh)

    mx.random.seed(seed)
    net = get_model(MODEL, pretrained=False)
    net.initialize(mx.init.Xavier(), ctx=mx.cpu())
    net.hybridize()
    data = np.random.default_rng(seed + 1).uniform(0.0, 1.0, INPUT_SHAPE).astype(np.float32)
    net(mx.nd.array(data))  # finishes Gluon's deferred initialisation (shapes become known)
    rng = np.random.default_rng(seed)
    for name, param in sorted(net.collect_params().items()):
        shape = param.shape
        if name.endswith("_gamma"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape).astype(np.float32)))
        elif name.endswith(("_beta", "_running_mean")):
            param.set_data(mx.nd.array((rng.standard_normal(shape) * 0.1).astype(np.float32)))
        elif name.endswith("_running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 1.5, shape).astype(np.float32)))
    out = net(mx.nd.array(data)).asnumpy()

    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="trt-harness-mxnet-", dir=out_dir) as tmp:
        prefix = os.path.join(tmp, MODEL)
        net.export(prefix, epoch=0)
        onnx_tmp = os.path.join(tmp, MODEL + ".onnx")
        import mxnet.onnx as mx_onnx

        mx_onnx.export_model(f"{prefix}-symbol.json", f"{prefix}-0000.params",
                             [INPUT_SHAPE], [np.float32], onnx_tmp)
        model = onnx.load(onnx_tmp)
        onnx.checker.check_model(model)
        inputs = [i.name for i in model.graph.input
                  if i.name not in {t.name for t in model.graph.initializer}]
        if inputs != [INPUT_NAME]:
            raise SystemExit(f"unexpected ONNX inputs {inputs}, expected [{INPUT_NAME!r}]")
        npz_tmp = os.path.join(tmp, MODEL + ".npz")
        np.savez(npz_tmp, **{f"input.{INPUT_NAME}": data, "output.0": out})
        meta = {
            "model": MODEL,
            "seed": seed,
            "inputs": {INPUT_NAME: {"shape": list(INPUT_SHAPE), "dtype": "float32",
                                    "key": f"input.{INPUT_NAME}"}},
            "outputs": [{"shape": list(out.shape), "dtype": str(out.dtype), "key": "output.0"}],
            "onnx": {"ir_version": model.ir_version,
                     "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
                     "producer": f"{model.producer_name} {model.producer_version}".strip(),
                     "nodes": len(model.graph.node)},
            "versions": {"mxnet": mx.__version__, "numpy": np.__version__,
                         "onnx": onnx.__version__, "python": platform.python_version()},
            "source": f"mxnet {mx.__version__}",
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "tool": "tools/export_mxnet_resnet.py",
        }
        meta["sha256"] = {"onnx": _sha256(onnx_tmp), "npz": _sha256(npz_tmp)}
        os.replace(onnx_tmp, stem + ".onnx")
        os.replace(npz_tmp, stem + ".npz")
        json_tmp = os.path.join(tmp, MODEL + ".json")
        with open(json_tmp, "w") as fh:
            json.dump(meta, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.replace(json_tmp, stem + ".json")
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, action="append", help="seed(s) to export (default: 0)")
    p.add_argument("--out", default=None, help=f"cache directory (default: ${CACHE_ENV} or "
                                               f"~/.cache/tvm-trt-harness/models)")
    p.add_argument("--force", action="store_true", help="export again even when cached")
    args = p.parse_args(argv)
    out_dir = args.out or cache_dir()
    try:
        import mxnet  # noqa: F401
    except Exception as exc:
        print(f"export_mxnet_resnet: error: mxnet does not import ({type(exc).__name__}: {exc}); "
              f"run this inside the MXNet environment (make mxnet-model)", file=sys.stderr)
        return 2
    for seed in args.seed or [0]:
        meta = export(seed, out_dir, force=args.force)
        print(f"{os.path.join(out_dir, f'{MODEL}-seed{seed}')}.{{onnx,npz,json}}: "
              f"{meta['source']}, onnx {meta['versions']['onnx']}, opset {meta['onnx']['opset']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
