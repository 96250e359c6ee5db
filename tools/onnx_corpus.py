#!/usr/bin/env python
"""A corpus of ONNX models that the harness did not write: onnx's own backend test models.

onnx ships its backend node tests (``onnx/backend/test/data/node/<test>/model.onnx`` with
``test_data_set_0/input_*.pb`` and ``output_*.pb``) and a few weight-light CNNs
(``data/light/light_*.onnx``).  onnx 1.23 stopped shipping ``node/`` in its wheels; onnx <= 1.22
still does.  The data directory is found in this order: ``--data DIR``; the installed onnx's
``backend/test/data`` when it has ``node/``; the cache filled by ``fetch`` (the onnx 1.22.0 wheel,
downloaded with pip, unpacked under ``~/.cache/tvm-trt-harness/onnx-backend-data/``).

Subcommands::

    list   [--per-op N]               the selection: name, op types, categories (deterministic)
    list/copy/stats --models          onnx's model tests instead (pytorch-converted, pytorch-operator,
                                      simple, light: 149 models in onnx 1.23), none filtered out
    copy   --out DIR [--per-op N]     copy it: DIR/<name>/model.onnx, inputs/<input>.npy and
                                      expected/<i>.npy (the .pb tensors as .npy), manifest.json
    run    --out DIR -- CMD ...       run CMD per copied model and tally exit codes; CMD may hold
                                      {model} {dir} {name}, and {inputs} (-> --input NAME=FILE.npy ...)
                                      and {expected} (-> --expected FILE.npy ..., the stored outputs)
    refs   --out DIR                  the harness's references on each copied model: with the
                                      stored inputs loaded through input_files.load_inputs (against
                                      onnx's expected outputs) and with generated inputs
    tvm    --out DIR --inputs MODE    each model imported, built for LLVM and run by TVM in a child
                                      process (a crash is a signal, not the end of the run), judged
                                      against the references; MODE: generated (onnx_io), stored
                                      (onnx's test data through load_inputs) or naive (the old
                                      generator: floats in [-1, 1), integers in [0, 4), one value
                                      for every dynamic dimension, rank-0 made (1,))
    fetch                             download the onnx 1.22.0 wheel with pip and unpack its test data
    stats                             counts of the selection by op type and category

The selection: every node test with tensor inputs of dtypes NumPy and the harness handle (no
bfloat16/float8/int4/string, no sequence/optional inputs), default domain only, no ``_expanded``
duplicates; per op type the first ``--per-op`` tests (sorted by name), preferring those in a
category below; then every test of the categories up to ``--per-category`` more each:

    int-div-mod    Div/Mod on integer inputs        index          Gather*, Scatter*, OneHot
    slice          Slice                            log-sqrt-pow   Log, Sqrt, Pow
    rank0          a rank-0 input                   dynamic        a dim_param / unknown dim
    ir10           IR version >= 10                 shape-input    Reshape/Expand/Tile/TopK/...
                                                                   with the shape as an input
and every light model; and, since no node test has a dynamic dimension of its own, a few
``<test>__dynamic_batch`` variants (elementwise/conv/pool tests whose first axis is a batch axis
of every input and output) that declare that axis as ``N``.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

FETCH_VERSION = "1.22.0"
SUPPORTED_ELEMS = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13}  # float..uint64, bool, f16, f64
SHAPE_INPUT_OPS = {"Reshape": 1, "Expand": 1, "Tile": 1, "TopK": 1, "ConstantOfShape": 0,
                   "Split": 1, "Squeeze": 1, "Unsqueeze": 1, "Pad": 1, "Range": 0, "OneHot": 1}
CATEGORIES = ("int-div-mod", "index", "slice", "log-sqrt-pow", "rank0", "dynamic", "ir10",
              "shape-input")


def default_cache() -> str:
    return os.path.join(os.path.expanduser("~"), ".cache", "tvm-trt-harness", "onnx-backend-data")


def find_data(explicit: str | None = None) -> str:
    """The ``backend/test/data`` directory to read (see the module docstring)."""
    cands = []
    if explicit:
        cands += [explicit, os.path.join(explicit, "onnx", "backend", "test", "data")]
    try:
        import onnx

        cands.append(os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data"))
    except Exception:
        pass
    cache = default_cache()
    if os.path.isdir(cache):
        for v in sorted(os.listdir(cache), reverse=True):
            cands.append(os.path.join(cache, v, "onnx", "backend", "test", "data"))
    for c in cands:
        if os.path.isdir(os.path.join(c, "node")):
            return c
    raise SystemExit("onnx_corpus: error: no onnx backend test data with node/ found (onnx >= 1.23 "
                     "ships none): run `python tools/onnx_corpus.py fetch` or pass --data DIR")


def find_models_data(explicit: str | None = None) -> str:
    """The ``backend/test/data`` directory holding onnx's model tests (every onnx wheel ships them)."""
    import onnx

    for c in ([explicit] if explicit else []) + [os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")]:
        if os.path.isdir(os.path.join(c, "pytorch-converted")):
            return c
    raise SystemExit("onnx_corpus: error: no onnx model test data (pytorch-converted/) found; pass --data DIR")


def fetch(version: str = FETCH_VERSION, cache: str | None = None) -> str:
    cache = cache or default_cache()
    dest = os.path.join(cache, version)
    data = os.path.join(dest, "onnx", "backend", "test", "data")
    if os.path.isdir(os.path.join(data, "node")):
        return data
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "-d", tmp, f"onnx=={version}"], check=True)
        (whl,) = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl")]
        part = dest + ".part"
        shutil.rmtree(part, ignore_errors=True)
        with zipfile.ZipFile(whl) as z:
            for n in z.namelist():
                if n.startswith("onnx/backend/test/data/"):
                    z.extract(n, part)
        os.replace(part, dest)
    return data


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------

def _describe(path: str, name: str, source: str) -> dict | None:
    import onnx

    try:
        m = onnx.load(path, load_external_data=False)
    except Exception:
        return None
    if any(o.domain not in ("", "ai.onnx") for o in m.opset_import if o.version) and \
            any(n.domain not in ("", "ai.onnx") for n in m.graph.node):
        return None
    inits = {t.name for t in m.graph.initializer}
    inputs = []
    cats = set()
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        if vi.type.WhichOneof("value") != "tensor_type":
            return None
        tt = vi.type.tensor_type
        if tt.elem_type not in SUPPORTED_ELEMS or not tt.HasField("shape"):
            return None
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        if not dims:
            cats.add("rank0")
        if any(not isinstance(d, int) for d in dims):
            cats.add("dynamic")
        inputs.append({"name": vi.name, "elem": tt.elem_type, "dims": dims})
    for vi in m.graph.output:
        if vi.type.WhichOneof("value") != "tensor_type" or \
                vi.type.tensor_type.elem_type not in SUPPORTED_ELEMS:
            return None
    ops = sorted({n.op_type for n in m.graph.node})
    if not ops:
        return None
    graph_inputs = {i["name"] for i in inputs}
    int_elems = {2, 3, 4, 5, 6, 7, 12, 13}
    for n in m.graph.node:
        if n.op_type in ("Div", "Mod") and any(i["elem"] in int_elems for i in inputs):
            cats.add("int-div-mod")
        if n.op_type in ("Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements",
                         "Scatter", "OneHot"):
            cats.add("index")
        if n.op_type == "Slice":
            cats.add("slice")
        if n.op_type in ("Log", "Sqrt", "Pow"):
            cats.add("log-sqrt-pow")
        slot = SHAPE_INPUT_OPS.get(n.op_type)
        if slot is not None and len(n.input) > slot and n.input[slot] in graph_inputs:
            cats.add("shape-input")
    if m.ir_version >= 10:
        cats.add("ir10")
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"name": name, "source": source, "path": path, "ops": ops, "opset": opset,
            "ir_version": m.ir_version, "categories": sorted(cats), "inputs": inputs,
            "outputs": len(m.graph.output)}


def select(data: str, *, per_op: int = 1, per_category: int = 6) -> list[dict]:
    """The deterministic selection (see the module docstring)."""
    node_dir = os.path.join(data, "node")
    cands = []
    for name in sorted(os.listdir(node_dir)):
        if name.endswith("_expanded") or "_expanded_" in name:
            continue
        path = os.path.join(node_dir, name, "model.onnx")
        if not os.path.isfile(path) or not os.path.isdir(os.path.join(node_dir, name, "test_data_set_0")):
            continue
        d = _describe(path, name, "node")
        if d is not None:
            cands.append(d)
    chosen: dict[str, dict] = {}
    by_op: dict[str, list[dict]] = collections.defaultdict(list)
    for d in cands:
        by_op[d["ops"][0] if len(d["ops"]) == 1 else "+".join(d["ops"])].append(d)
    for op in sorted(by_op):
        group = sorted(by_op[op], key=lambda d: (not d["categories"], d["name"]))
        for d in group[:per_op]:
            chosen[d["name"]] = d
    for cat in CATEGORIES:
        extra = [d for d in cands if cat in d["categories"] and d["name"] not in chosen]
        for d in extra[:per_category]:
            chosen[d["name"]] = d
    out = sorted(chosen.values(), key=lambda d: d["name"])
    out += dynamic_variants(cands, limit=per_category)
    light = os.path.join(data, "light")
    if os.path.isdir(light):
        for f in sorted(os.listdir(light)):
            if f.endswith(".onnx"):
                d = _describe(os.path.join(light, f), f[:-5], "light")
                if d is not None:
                    out.append(d)
    return out


# Node tests whose first axis is a batch axis of every input and output: their dynamic variants
# declare that axis as "N" (onnx's node tests have no dynamic dimension of their own).
DYNAMIC_OPS = ("Relu", "Add", "Conv", "MaxPool", "Softmax", "Sigmoid", "BatchNormalization",
               "LeakyRelu", "AveragePool", "Mul")


MODEL_SOURCES = ("pytorch-converted", "pytorch-operator", "simple", "light")


def select_models(data: str, sources=MODEL_SOURCES) -> list[dict]:
    """Every model of onnx's model test folders (``pytorch-converted``, ``pytorch-operator``,
    ``simple``: ``<test>/model.onnx`` with ``test_data_set_0``; ``light``: ``light_<net>.onnx``
    with ``light_<net>_output_0.pb``, its input onnx's dummy data), none filtered out: a model the
    harness refuses is part of the measurement."""
    import onnx

    out = []
    for src in sources:
        folder = os.path.join(data, src)
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            if src == "light":
                if not name.endswith(".onnx"):
                    continue
                path, name = os.path.join(folder, name), name[:-5]
            else:
                path = os.path.join(folder, name, "model.onnx")
                if not os.path.isfile(path):
                    continue
            d = _describe(path, name, src)
            if d is None:
                m = onnx.load(path, load_external_data=False)
                d = {"name": name, "path": path, "ops": sorted({n.op_type for n in m.graph.node}),
                     "opset": next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None),
                     "ir_version": m.ir_version, "categories": ["unsupported-io"], "outputs": len(m.graph.output),
                     "inputs": [{"name": vi.name} for vi in m.graph.input
                                if vi.name not in {t.name for t in m.graph.initializer}]}
            out.append(dict(d, source=src, name=f"{src}__{name}"))
    return out


def _light_inputs(path: str) -> dict:
    """The inputs onnx's backend runner feeds a light model (``generate_dummy_data(random=False)``:
    ``arange(n) / n`` in the declared shape, unknown dimensions 1), by input name."""
    import numpy as np
    import onnx

    m = onnx.load(path, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    out = {}
    for vi in m.graph.input:
        if vi.name in inits:
            continue
        shape = tuple(d.dim_value if d.HasField("dim_value") else 1 for d in vi.type.tensor_type.shape.dim)
        n = int(np.prod(shape))
        out[vi.name] = (np.arange(n).reshape(shape) / n).astype(np.float32)
    return out


def dynamic_variants(cands: list[dict], *, limit: int) -> list[dict]:
    import onnx

    out = []
    for op in DYNAMIC_OPS:
        for d in cands:
            if d["ops"] != [op] or len(out) >= limit:
                continue
            firsts = {i["dims"][0] if i["dims"] else None for i in d["inputs"]}
            if len(firsts) != 1 or None in firsts or not all(len(i["dims"]) >= 2 for i in d["inputs"]):
                continue
            m = onnx.load(d["path"], load_external_data=False)
            outs = [o.type.tensor_type.shape.dim for o in m.graph.output]
            if not all(len(o) >= 2 and o[0].dim_value in firsts for o in outs):
                continue
            v = dict(d, name=d["name"] + "__dynamic_batch", source="node+dynamic",
                     categories=sorted(set(d["categories"]) | {"dynamic"}),
                     inputs=[dict(i, dims=["N"] + i["dims"][1:]) for i in d["inputs"]])
            out.append(v)
            break
    return out


def _dynamic_copy(src: str, dest: str) -> None:
    """``src`` with the first axis of every runtime input and output declared as "N"."""
    import onnx

    m = onnx.load(src, load_external_data=False)
    inits = {t.name for t in m.graph.initializer}
    for vi in list(m.graph.input) + list(m.graph.output):
        if vi.name in inits:
            continue
        dim = vi.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "N"
    onnx.checker.check_model(m)
    onnx.save(m, dest)


def stats(sel: list[dict]) -> dict:
    ops = collections.Counter(op for d in sel for op in d["ops"])
    cats = collections.Counter(c for d in sel for c in d["categories"])
    return {"models": len(sel), "op_types": len(ops), "by_source": dict(collections.Counter(d["source"] for d in sel)),
            "by_category": dict(sorted(cats.items())), "by_op": dict(sorted(ops.items())),
            "ir_versions": dict(sorted(collections.Counter(d["ir_version"] for d in sel).items())),
            "opsets": dict(sorted(collections.Counter(d["opset"] for d in sel).items()))}


# ---------------------------------------------------------------------------------------------
# Copy: model.onnx, the stored .pb tensors as .npy, a manifest
# ---------------------------------------------------------------------------------------------

def copy_corpus(sel: list[dict], out: str) -> dict:
    import numpy as np
    import onnx
    from onnx import numpy_helper

    os.makedirs(out, exist_ok=True)
    entries = []
    for d in sel:
        dest = os.path.join(out, d["name"])
        os.makedirs(dest, exist_ok=True)
        if d["source"] == "node+dynamic":
            _dynamic_copy(d["path"], os.path.join(dest, "model.onnx"))
        else:
            shutil.copyfile(d["path"], os.path.join(dest, "model.onnx"))
        entry = {k: d[k] for k in ("name", "source", "ops", "opset", "ir_version", "categories")}
        entry["inputs"], entry["expected"] = {}, []
        ds = os.path.join(os.path.dirname(d["path"]), "test_data_set_0")
        if d["source"] == "light":
            os.makedirs(os.path.join(dest, "inputs"), exist_ok=True)
            os.makedirs(os.path.join(dest, "expected"), exist_ok=True)
            for k, (n, arr) in enumerate(_light_inputs(d["path"]).items()):
                rel = os.path.join("inputs", f"{k}.npy")
                np.save(os.path.join(dest, rel), arr, allow_pickle=False)
                entry["inputs"][n] = rel
            for k in range(d["outputs"]):
                pb = f"{d['path'][:-5]}_output_{k}.pb"
                if os.path.isfile(pb):
                    rel = os.path.join("expected", f"{k}.npy")
                    np.save(os.path.join(dest, rel), numpy_helper.to_array(onnx.load_tensor(pb)), allow_pickle=False)
                    entry["expected"].append(rel)
        elif os.path.isdir(ds):
            os.makedirs(os.path.join(dest, "inputs"), exist_ok=True)
            os.makedirs(os.path.join(dest, "expected"), exist_ok=True)
            names = [i["name"] for i in d["inputs"]]
            pbs = sorted((f for f in os.listdir(ds) if f.startswith("input_")),
                         key=lambda f: int(f[6:-3]))
            for k, f in enumerate(pbs):
                try:   # a sequence or optional input is no tensor: the model gets no stored inputs
                    t = onnx.load_tensor(os.path.join(ds, f))
                    arr = numpy_helper.to_array(t)
                except Exception:
                    entry["inputs"] = {}
                    break
                name = t.name if t.name in names else (names[k] if k < len(names) else None)
                if name is None or arr.dtype == object:
                    entry["inputs"] = {}
                    break
                rel = os.path.join("inputs", f"{k}.npy")
                np.save(os.path.join(dest, rel), arr, allow_pickle=False)
                entry["inputs"][name] = rel
            outs = sorted((f for f in os.listdir(ds) if f.startswith("output_")),
                          key=lambda f: int(f[7:-3]))
            for k, f in enumerate(outs):
                rel = os.path.join("expected", f"{k}.npy")
                try:
                    arr = numpy_helper.to_array(onnx.load_tensor(os.path.join(ds, f)))
                    np.save(os.path.join(dest, rel), arr, allow_pickle=False)
                except Exception:
                    entry["expected"] = []
                    break
                entry["expected"].append(rel)
        entries.append(entry)
    manifest = {"models": entries, "stats": stats(sel)}
    with open(os.path.join(out, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1, sort_keys=True)
    return manifest


def load_manifest(out: str) -> list[dict]:
    with open(os.path.join(out, "manifest.json")) as fh:
        return json.load(fh)["models"]


# ---------------------------------------------------------------------------------------------
# Run a command per model
# ---------------------------------------------------------------------------------------------

def _rc_name(rc: int) -> str:
    if rc < 0:
        try:
            return f"signal {signal.Signals(-rc).name}"
        except ValueError:
            return f"signal {-rc}"
    return "timeout" if rc == 124 else f"exit {rc}"


def run_each(out: str, cmd: list[str], *, timeout: float, only: str | None = None) -> dict:
    tally: collections.Counter = collections.Counter()
    rows = []
    for e in load_manifest(out):
        if only and only not in e["name"]:
            continue
        d = os.path.join(out, e["name"])
        argv: list[str] = []
        for a in cmd:
            if a == "{inputs}":
                for n, rel in e["inputs"].items():
                    argv += ["--input", f"{n}={os.path.join(d, rel)}"]
                continue
            if a == "{expected}":
                for rel in e["expected"]:
                    argv += ["--expected", os.path.join(d, rel)]
                continue
            argv.append(a.replace("{model}", os.path.join(d, "model.onnx")).replace("{dir}", d)
                        .replace("{name}", e["name"]))
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
            rc, tail = p.returncode, (p.stderr.strip().splitlines() or p.stdout.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            rc, tail = 124, f"timed out after {timeout:g} s"
        label = _rc_name(rc)
        tally[label] += 1
        rows.append({"name": e["name"], "rc": rc, "outcome": label,
                     "seconds": round(time.perf_counter() - t0, 2), "last_line": tail[:300]})
        print(f"{label:>14}  {rows[-1]['seconds']:7.2f}s  {e['name']}  {tail[:160]}", flush=True)
    res = {"command": cmd, "tally": dict(tally), "runs": rows}
    print("tally: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    return res


# ---------------------------------------------------------------------------------------------
# The harness's own references over the corpus
# ---------------------------------------------------------------------------------------------

def refs_each(out: str, *, seed: int = 0, only: str | None = None, quiet: bool = False) -> dict:
    import numpy as np

    from harness.errors import InputError
    from harness.models import onnx_io, references
    from harness.models.domains import generate_inputs
    from harness.models.input_files import load_inputs

    tally: collections.Counter = collections.Counter()
    rows = []
    for e in load_manifest(out):
        if only and only not in e["name"]:
            continue
        d = os.path.join(out, e["name"])
        row: dict = {"name": e["name"]}
        try:
            model, _ = onnx_io.load_model(os.path.join(d, "model.onnx"))
        except InputError as exc:
            row["load"] = str(exc)
            tally["load: InputError"] += 1
            rows.append(row)
            continue
        # 1. The stored inputs, through the --input loading path, against onnx's expected outputs.
        if e["inputs"]:
            try:
                given = load_inputs([f"{n}={os.path.join(d, rel)}" for n, rel in e["inputs"].items()],
                                            model)
                specs = onnx_io.input_specs(model, given=given)
                stored = [np.load(os.path.join(d, rel), allow_pickle=False) for rel in e["expected"]]
                rs = references.run_references(model, given, source=("onnx-expected", stored),
                                               rtol=1e-3, atol_scale=1e-4)
                row["stored"] = {r.name.split(" ")[0]: (r.status if not r.ok else
                                 ("agree" if all(c.agree for c in rs.comparisons if r.name in (c.a, c.b))
                                  else "disagree")) for r in rs.references}
                row["stored_note"] = rs.disagreement or ""
                for k, v in row["stored"].items():
                    tally[f"stored {k}: {v}"] += 1
            except InputError as exc:
                row["stored"] = f"InputError: {exc}"
                tally["stored: InputError"] += 1
        # 2. Generated inputs: do both references run, without NaN/Inf, and agree?
        try:
            given_specs = onnx_io.input_specs(model, dim_value=2)
            data = generate_inputs(model, given_specs, seed=seed)
            rs = references.run_references(model, data)
            ok = rs.available
            nonfinite = any(np.asarray(o).dtype.kind == "f" and not np.isfinite(o).all()
                            for r in ok for o in r.outputs)
            failed = [r.line() for r in rs.references if not r.ok]
            verdict = ("no-reference" if not ok else "disagree" if not rs.agree else
                       "agree-nonfinite" if nonfinite else "agree")
            if failed and ok:
                verdict += "-some-failed"
            row["generated"] = verdict
            row["generated_note"] = " | ".join(failed + ([rs.disagreement] if rs.disagreement else []))[:600]
            tally[f"generated: {verdict}"] += 1
        except InputError as exc:
            row["generated"] = f"InputError: {exc}"
            tally["generated: InputError"] += 1
        rows.append(row)
        if not quiet:
            print(f"{e['name']}: stored {row.get('stored', '-')} generated {row.get('generated')} "
                  f"{row.get('generated_note', '')[:200]}", flush=True)
    print("tally: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    return {"tally": dict(tally), "models": rows}


# ---------------------------------------------------------------------------------------------
# TVM on the corpus (a measurement of the inputs and references, not the model check itself)
# ---------------------------------------------------------------------------------------------

def _naive_inputs(model, seed: int):
    """The generator `trt-harness check` used before onnx_io: no domains, rank-0 made (1,)."""
    import numpy as np

    from harness.models import onnx_io

    rng = np.random.default_rng(seed)
    out = {}
    for name, (shape, dtype) in onnx_io.input_specs(model, dim_value=1).items():
        dt = np.dtype(dtype)
        if dt.kind == "f":
            a = rng.uniform(-1.0, 1.0, shape).astype(dt)
        elif dt.kind in "iu":
            a = rng.integers(0, 4, shape).astype(dt)
        else:
            a = rng.integers(0, 2, shape).astype(bool)
        out[name] = np.ascontiguousarray(a)
    return out


def tvm_one(model_dir: str, mode: str, seed: int = 0) -> dict:
    """One model through TVM (LLVM) and the references; prints nothing, returns a row."""
    import warnings

    import numpy as np

    from harness.errors import InputError
    from harness.models import onnx_io, references

    warnings.simplefilter("ignore")
    row: dict = {"mode": mode}
    try:
        model, _ = onnx_io.load_model(os.path.join(model_dir, "model.onnx"))
        if mode == "stored":
            with open(os.path.join(model_dir, "entry.json")) as fh:
                e = json.load(fh)
            if not e["inputs"]:
                return {**row, "outcome": "no-stored-inputs"}
            data = load_inputs([f"{n}={os.path.join(model_dir, r)}" for n, r in e["inputs"].items()], model)
        elif mode == "naive":
            data = _naive_inputs(model, seed)
        else:
            data = generate_inputs(model, onnx_io.input_specs(model, dim_value=2), seed=seed)
    except InputError as exc:
        return {**row, "outcome": "input-error", "reason": str(exc)}
    import tvm
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    t0 = time.perf_counter()
    try:
        mod = from_onnx(model, shape_dict={k: list(v.shape) for k, v in data.items()},
                        dtype_dict={k: str(v.dtype) for k, v in data.items()}, keep_params_in_input=False)
    except Exception as exc:
        return {**row, "outcome": "import-error", "reason": onnx_io.one_line(exc)}
    try:
        ex = tvm.compile(mod, target="llvm")
    except Exception as exc:
        return {**row, "outcome": "compile-error", "reason": onnx_io.one_line(exc)}
    try:
        vm = relax.VirtualMachine(ex, tvm.cpu())
        out = vm["main"](*[tvm.runtime.tensor(np.require(v, requirements="C")) for v in data.values()])

        def flat(o):
            if hasattr(o, "numpy"):
                return [o.numpy()]
            if isinstance(o, tvm.runtime.ShapeTuple):   # a shape returned as an output (Shape op)
                return [np.array(list(o), dtype=np.int64)]
            return [y for x in o for y in flat(x)]
        actual = flat(out)
    except Exception as exc:
        return {**row, "outcome": "run-error", "reason": onnx_io.one_line(exc)}
    row["tvm_s"] = round(time.perf_counter() - t0, 2)
    rs = references.run_references(model, data)
    j = references.judge(actual, rs)
    nonfinite = any(np.asarray(o).dtype.kind == "f" and not np.isfinite(o).all() for o in actual)
    return {**row, "outcome": j.outcome, "reason": j.reason[:300], "nonfinite": nonfinite}


def _forked(fn, args, timeout: float) -> tuple[int, str]:
    """``fn(*args)`` in a forked child (TVM already imported by the parent): (exit code, JSON)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        code = 0
        try:
            payload = json.dumps(fn(*args)).encode()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            payload = json.dumps({"outcome": "harness-error", "reason": f"{type(exc).__name__}: {exc}"[:300]}).encode()
            code = 3
        with os.fdopen(w, "wb") as fh:
            fh.write(payload)
        os._exit(code)
    os.close(w)
    deadline = time.monotonic() + timeout
    chunks = []
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(r, selectors.EVENT_READ)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(r)
            return 124, ""
        if sel.select(timeout=min(left, 1.0)):
            data = os.read(r, 1 << 16)
            if not data:
                break
            chunks.append(data)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    rc = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return rc, b"".join(chunks).decode()


def tvm_each(out: str, mode: str, *, timeout: float, only: str | None = None, seed: int = 0) -> dict:
    """:func:`tvm_one` per model, each in a forked child (a SIGFPE ends the child, not the run)."""
    import tvm  # noqa: F401 - imported once, before the forks
    from tvm.relax.frontend.onnx import from_onnx  # noqa: F401

    from harness.models import onnx_io, references  # noqa: F401

    tally: collections.Counter = collections.Counter()
    rows = []
    for e in load_manifest(out):
        if only and only not in e["name"]:
            continue
        d = os.path.join(out, e["name"])
        with open(os.path.join(d, "entry.json"), "w") as fh:
            json.dump(e, fh)
        t0 = time.perf_counter()
        rc, text = _forked(tvm_one, (d, mode, seed), timeout)
        if rc == 124:
            row = {"mode": mode, "outcome": "timeout", "reason": f"over {timeout:g} s"}
        elif text:
            row = json.loads(text)
        else:
            row = {"mode": mode, "outcome": f"crash ({_rc_name(rc)})", "reason": ""}
        row["name"], row["seconds"] = e["name"], round(time.perf_counter() - t0, 2)
        tally[row["outcome"]] += 1
        if row.get("nonfinite"):
            tally["(outputs with NaN/Inf)"] += 1
        rows.append(row)
        print(f"{row['outcome']:>22} {row['seconds']:6.1f}s {e['name']}  {row.get('reason', '')[:150]}", flush=True)
    print(f"tally ({mode}): " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.items())))
    return {"mode": mode, "tally": dict(tally), "models": rows}


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description="onnx's backend test models as a corpus for the harness")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("list", "copy", "stats"):
        s = sub.add_parser(name)
        s.add_argument("--data", help="onnx backend test data directory (holding node/)")
        s.add_argument("--per-op", type=int, default=1)
        s.add_argument("--per-category", type=int, default=6)
        s.add_argument("--models", action="store_true",
                       help="onnx's model tests (pytorch-converted, pytorch-operator, simple, light) instead")
        if name == "copy":
            s.add_argument("--out", required=True)
    s = sub.add_parser("run")
    s.add_argument("--out", required=True)
    s.add_argument("--timeout", type=float, default=600.0)
    s.add_argument("--only", help="models whose name contains this")
    s.add_argument("--json", help="write the tally here")
    s.add_argument("command", nargs=argparse.REMAINDER)
    s = sub.add_parser("refs")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--only")
    s.add_argument("--json")
    s.add_argument("--quiet", action="store_true")
    s = sub.add_parser("tvm")
    s.add_argument("--out", required=True)
    s.add_argument("--inputs", choices=("generated", "stored", "naive"), default="generated")
    s.add_argument("--timeout", type=float, default=300.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--only")
    s.add_argument("--json")
    s = sub.add_parser("fetch")
    s.add_argument("--version", default=FETCH_VERSION)
    args = p.parse_args(argv)

    if args.cmd == "fetch":
        print(fetch(args.version))
        return 0
    if args.cmd in ("list", "copy", "stats"):
        sel = select_models(find_models_data(args.data)) if args.models else \
            select(find_data(args.data), per_op=args.per_op, per_category=args.per_category)
        if args.cmd == "list":
            for d in sel:
                print(f"{d['name']}\t{','.join(d['ops'])}\topset {d['opset']}\tir {d['ir_version']}\t"
                      f"{','.join(d['categories'])}")
        elif args.cmd == "stats":
            print(json.dumps(stats(sel), indent=1))
        else:
            m = copy_corpus(sel, args.out)
            print(f"{m['stats']['models']} models ({m['stats']['op_types']} op types) in {args.out}")
        return 0
    if args.cmd == "run":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not cmd:
            p.error("run: give the command after --")
        res = run_each(args.out, cmd, timeout=args.timeout, only=args.only)
    elif args.cmd == "tvm":
        res = tvm_each(args.out, args.inputs, timeout=args.timeout, only=args.only, seed=args.seed)
    else:
        res = refs_each(args.out, seed=args.seed, only=args.only, quiet=args.quiet)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
