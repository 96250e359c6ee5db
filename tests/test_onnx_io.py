"""harness.models.onnx_io: loading a model, its input specs, the user's input files, and
generated inputs that stay inside each op's domain.  Small models built with onnx.helper; the
--input path is also run on onnx's own backend test data (the stored .pb tensors as .npy)."""
from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install 'onnx>=1.16', the models extra)")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from harness.errors import InputError  # noqa: E402
from harness.models import onnx_io as io  # noqa: E402
from harness.models.domains import generate_inputs  # noqa: E402
from harness.models.input_files import load_inputs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
vi = helper.make_tensor_value_info


def _model(nodes, inputs, outputs, inits=(), opset=13, ir=8) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "t", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = ir
    return m


def relu(shape=(1, 4), name="x") -> onnx.ModelProto:
    return _model([helper.make_node("Relu", [name], ["y"])], [vi(name, T.FLOAT, shape)],
                  [vi("y", T.FLOAT, shape)])


def _one_line(exc: pytest.ExceptionInfo, start: str | None = None) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and msg.strip() == msg and msg, repr(msg)
    if start is not None:
        assert msg.startswith(start), msg
    return msg


# ---------------------------------------------------------------------------------------------
# load_model
# ---------------------------------------------------------------------------------------------

def test_load_good_file_and_proto(tmp_path):
    p = tmp_path / "m.onnx"
    onnx.save(relu(), str(p))
    m, label = io.load_model(p)
    assert label == str(p) and m.graph.node[0].op_type == "Relu"
    m2, label2 = io.load_model(relu())
    assert label2 == "t"


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text", "garbage",
                                  "trunc10", "trunc50", "trunc90", "no_nodes", "no_outputs",
                                  "checker"])
def test_each_bad_model_file_is_one_line_naming_the_file(tmp_path, case):
    path = tmp_path / f"{case}.onnx"
    blob = relu().SerializeToString()
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("not an onnx model\n")
    elif case == "garbage":
        path.write_bytes(b"\x00\xff" * 64)
    elif case.startswith("trunc"):
        path.write_bytes(blob[: len(blob) * int(case[5:]) // 100])
    elif case == "no_nodes":
        m = relu()
        del m.graph.node[:]
        onnx.save(m, str(path))
    elif case == "no_outputs":
        m = relu()
        del m.graph.output[:]
        onnx.save(m, str(path))
    elif case == "checker":
        onnx.save(_model([helper.make_node("Relu", ["undefined"], ["y"])], [vi("x", T.FLOAT, [2])],
                         [vi("y", T.FLOAT, [2])]), str(path))
    with pytest.raises(InputError) as e:
        io.load_model(path)
    msg = _one_line(e, f"{path}: ")
    expect = {"missing": "no such file", "directory": "directory", "empty": "empty",
              "no_nodes": "no nodes", "no_outputs": "no outputs", "checker": "invalid ONNX model"}
    if case in expect:
        assert expect[case] in msg


def test_ir_version_10_and_newer_than_the_checker_are_accepted(tmp_path):
    m = relu()
    m.ir_version = 10
    p = tmp_path / "ir10.onnx"
    onnx.save(m, str(p))
    got, _ = io.load_model(p)
    assert got.ir_version == 10
    m.ir_version = onnx.IR_VERSION + 1
    got, _ = io.load_model(m)
    assert got.ir_version == onnx.IR_VERSION + 1, "the model itself is not altered"


# ---------------------------------------------------------------------------------------------
# input_specs
# ---------------------------------------------------------------------------------------------

def two_dynamic() -> onnx.ModelProto:
    """x: [batch, seq, 8], m: [batch, ?] (unnamed), s: rank 0."""
    x = vi("x", T.FLOAT, ["batch", "seq", 8])
    mask = vi("m", T.FLOAT, ["batch", None])
    s = vi("s", T.FLOAT, [])
    nodes = [helper.make_node("Mul", ["x", "s"], ["y"]), helper.make_node("Mul", ["m", "s"], ["z"])]
    return _model(nodes, [x, mask, s], [vi("y", T.FLOAT, ["batch", "seq", 8]),
                                        vi("z", T.FLOAT, ["batch", None])])


def test_dims_per_name_and_default_and_position():
    specs = io.input_specs(two_dynamic(), dims={"batch": 2, "seq": 128}, dim_value=5)
    assert specs == {"x": ((2, 128, 8), "float32"), "m": ((2, 5), "float32"), "s": ((), "float32")}
    specs = io.input_specs(two_dynamic(), dims={"batch": 3, "seq": 7, "m:1": 4})
    assert specs["m"] == ((3, 4), "float32") and specs["x"] == ((3, 7, 8), "float32")


def test_rank0_input_stays_rank0():
    specs = io.input_specs(two_dynamic())
    assert specs["s"] == ((), "float32")
    data = generate_inputs(two_dynamic(), specs, seed=0)
    assert data["s"].shape == () and data["s"].ndim == 0


@pytest.mark.parametrize("kwargs, needle", [
    ({"dims": {"batchh": 2}}, "'batchh'"),
    ({"dims": {"batch": 0}}, "positive"),
    ({"dim_value": 0}, "--dim-value must be a positive integer"),
    ({"dim_value": None, "dims": {"batch": 2}}, "'seq'"),
    ({"dims": {"batch": 2.5}}, "positive integer"),
])
def test_bad_dims_are_one_line(kwargs, needle):
    with pytest.raises(InputError) as e:
        io.input_specs(two_dynamic(), **kwargs)
    assert needle in _one_line(e)


def test_input_without_shape_and_unsupported_types():
    m = _model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", T.FLOAT, None)], [vi("y", T.FLOAT, None)])
    with pytest.raises(InputError) as e:
        io.input_specs(m)
    assert "no fixed shape" in _one_line(e) and "--input x=" in str(e.value)
    # ...but data given for it is enough
    assert io.input_specs(m, given={"x": np.zeros((2, 3), np.float32)}) == {"x": ((2, 3), "float32")}
    bf = _model([helper.make_node("Identity", ["x"], ["y"])], [vi("x", T.BFLOAT16, [2])],
                [vi("y", T.BFLOAT16, [2])])
    with pytest.raises(InputError) as e:
        io.input_specs(bf)
    assert "BFLOAT16" in _one_line(e)
    seq = helper.make_tensor_sequence_value_info("x", T.FLOAT, [2])
    sm = _model([helper.make_node("SequenceLength", ["x"], ["y"])], [seq], [vi("y", T.INT64, [])])
    with pytest.raises(InputError) as e:
        io.input_specs(sm)
    assert "not a tensor" in _one_line(e)


def test_given_data_binds_named_dims():
    x = np.zeros((3, 4, 8), np.float32)
    specs = io.input_specs(two_dynamic(), given={"x": x}, dim_value=1)
    assert specs["x"] == ((3, 4, 8), "float32") and specs["m"] == ((3, 1), "float32")
    with pytest.raises(InputError) as e:
        io.input_specs(two_dynamic(), given={"x": x}, dims={"batch": 2})
    assert "'batch' is 2" in _one_line(e)


# ---------------------------------------------------------------------------------------------
# load_inputs: --input NAME=FILE.npy, --input FILE.npz, .pb
# ---------------------------------------------------------------------------------------------

def test_load_inputs_npy_npz_pb(tmp_path):
    m = two_dynamic()
    x = np.ones((2, 3, 8), np.float32)
    s = np.array(2.0, np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "rest.npz", m=np.zeros((2, 5), np.float32), s=s)
    got = load_inputs([f"x={tmp_path / 'x.npy'}", str(tmp_path / "rest.npz")], m)
    assert list(got) == ["x", "m", "s"] and got["s"].shape == () and np.array_equal(got["x"], x)
    onnx.save_tensor(numpy_helper.from_array(s, "s"), str(tmp_path / "s.pb"))
    got = load_inputs([str(tmp_path / "s.pb")], m)          # named by the tensor
    assert got["s"].shape == () and got["s"] == 2.0
    # A lone .npy for a one-input model
    np.save(tmp_path / "only.npy", np.zeros((1, 4), np.float32))
    assert list(load_inputs([str(tmp_path / "only.npy")], relu())) == ["x"]


def _bad_inputs(tmp_path):
    m = two_dynamic()
    d = tmp_path
    np.save(d / "f64.npy", np.zeros((2, 3, 8)))
    np.save(d / "rank.npy", np.zeros((2, 8), np.float32))
    np.save(d / "fixed.npy", np.zeros((2, 3, 9), np.float32))
    np.save(d / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(d / "objz.npz", x=np.array([None, 1], dtype=object))
    np.savez(d / "unknown.npz", nope=np.zeros(2, np.float32))
    np.save(d / "ok.npy", np.zeros((2, 3, 8), np.float32))
    (d / "trunc.npy").write_bytes((d / "ok.npy").read_bytes()[:60])
    (d / "text.npy").write_text("hello")
    (d / "data.csv").write_text("1,2")
    onnx.save(m, str(d / "w.onnx"))
    return m, [
        ([f"x={d / 'missing.npy'}"], "missing.npy", "no such file"),
        ([f"x={d}"], str(d), "directory"),
        ([f"x={d / 'f64.npy'}"], "f64.npy", "float64"),
        ([f"x={d / 'rank.npy'}"], "rank.npy", "rank 2"),
        ([f"x={d / 'fixed.npy'}"], "fixed.npy", "axis 2 must be 8"),
        ([f"x={d / 'obj.npy'}"], "obj.npy", "pickled"),
        ([str(d / "objz.npz")], "objz.npz", "pickled"),
        ([str(d / "unknown.npz")], "unknown.npz", "not an input"),
        ([f"x={d / 'ok.npy'}", f"x={d / 'ok.npy'}"], "ok.npy", "given twice"),
        ([f"x={d / 'trunc.npy'}"], "trunc.npy", "not a readable"),
        ([f"x={d / 'text.npy'}"], "text.npy", "not a readable"),
        ([str(d / "ok.npy")], "ok.npy", "which input"),
        ([f"x={d / 'data.csv'}"], "data.csv", "unknown input file type"),
        ([f"nope={d / 'ok.npy'}"], "ok.npy", "not an input"),
        ([f"={d / 'ok.npy'}"], "ok.npy", "empty input name"),
    ]


def test_each_bad_input_file_is_one_line_naming_the_file(tmp_path):
    m, cases = _bad_inputs(tmp_path)
    for items, fname, needle in cases:
        with pytest.raises(InputError) as e:
            load_inputs(items, m)
        msg = _one_line(e)
        assert fname in msg and needle in msg, (items, msg)


def test_initializer_name_is_not_an_input(tmp_path):
    w = numpy_helper.from_array(np.ones((4,), np.float32), "w")
    m = _model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", T.FLOAT, [4])],
               [vi("y", T.FLOAT, [4])], [w])
    np.save(tmp_path / "w.npy", np.ones((4,), np.float32))
    with pytest.raises(InputError) as e:
        load_inputs([f"w={tmp_path / 'w.npy'}"], m)
    assert "initializer" in _one_line(e)


# ---------------------------------------------------------------------------------------------
# generate_inputs: domains
# ---------------------------------------------------------------------------------------------

def _gen(m, seed=0, **kw):
    return generate_inputs(m, io.input_specs(m, **kw), seed=seed)


@pytest.mark.parametrize("dtype", [T.INT32, T.INT64, T.INT8, T.UINT8, T.FLOAT])
def test_divisors_never_zero(dtype):
    npd = helper.tensor_dtype_to_np_dtype(dtype)
    m = _model([helper.make_node("Div", ["a", "b"], ["c"]),
                helper.make_node("Mod", ["a", "d"], ["e"], fmod=1 if dtype == T.FLOAT else 0),
                helper.make_node("Cast", ["f"], ["fc"], to=dtype),        # through a Cast
                helper.make_node("Div", ["a", "fc"], ["g"])],
               [vi(n, dtype, [32, 32]) for n in "abd"] + [vi("f", T.FLOAT, [32, 32])],
               [vi(n, dtype, [32, 32]) for n in "ceg"])
    for seed in range(5):
        x = _gen(m, seed)
        assert x["b"].dtype == npd and (x["b"] != 0).all() and (x["d"] != 0).all()
        assert (x["f"].astype(npd) != 0).all()
        if np.dtype(npd).kind == "i":
            assert (x["a"] < 0).any(), "free integers include negatives"


def test_gather_indices_in_range_and_log_sqrt_positive():
    m = _model([helper.make_node("Gather", ["data", "idx"], ["g"], axis=1),
                helper.make_node("GatherElements", ["data", "ie"], ["ge"], axis=0),
                helper.make_node("Log", ["p"], ["l"]),
                helper.make_node("Identity", ["q"], ["qi"]), helper.make_node("Sqrt", ["qi"], ["s"])],
               [vi("data", T.FLOAT, [3, 5]), vi("idx", T.INT64, [4, 6]), vi("ie", T.INT32, [3, 5]),
                vi("p", T.FLOAT, [64]), vi("q", T.FLOAT16, [64])],
               [vi("g", T.FLOAT, None), vi("ge", T.FLOAT, None), vi("l", T.FLOAT, [64]),
                vi("s", T.FLOAT16, [64])])
    for seed in range(5):
        x = _gen(m, seed)
        assert ((x["idx"] >= -5) & (x["idx"] < 5)).all() and (x["idx"] < 0).any() or seed
        assert ((x["ie"] >= -3) & (x["ie"] < 3)).all()
        assert (x["p"] > 0).all() and (x["q"] > 0).all() and x["q"].dtype == np.float16
        from onnx.reference import ReferenceEvaluator

        outs = ReferenceEvaluator(m).run(None, x)
        assert all(np.isfinite(o).all() for o in outs)


def test_bool_inputs_and_dynamic_gather_axis_from_shape_inference():
    m = _model([helper.make_node("Where", ["c", "a", "b"], ["w"]),
                helper.make_node("Transpose", ["a"], ["t"], perm=[1, 0]),
                helper.make_node("Gather", ["t", "i"], ["g"], axis=0)],
               [vi("c", T.BOOL, [4, 7]), vi("a", T.FLOAT, ["N", 7]), vi("b", T.FLOAT, [4, 7]),
                vi("i", T.INT64, [50])],
               [vi("w", T.FLOAT, None), vi("g", T.FLOAT, None)])
    x = _gen(m, 0, dims={"N": 4})
    assert x["c"].dtype == np.bool_ and x["c"].any() and not x["c"].all()
    # t = a^T is 7 x 4 (known only from shape inference): indices in [-7, 7)
    assert ((x["i"] >= -7) & (x["i"] < 7)).all() and (np.abs(x["i"]) >= 4).any()


def test_shape_like_inputs_are_valid():
    """Slice starts/ends/axes/steps, Reshape shape, Expand shape, Tile repeats, TopK k,
    GatherND/ScatterND/OneHot indices: the evaluator runs them all without an error."""
    from onnx.reference import ReferenceEvaluator

    i64 = T.INT64
    m = _model([
        helper.make_node("Slice", ["d", "st", "en", "ax", "sp"], ["sl"]),
        helper.make_node("Reshape", ["d", "sh"], ["rs"]),
        helper.make_node("Expand", ["d", "ex"], ["ep"]),
        helper.make_node("Tile", ["d", "rp"], ["tl"]),
        helper.make_node("TopK", ["d", "k"], ["tv", "ti"], axis=2),
        helper.make_node("GatherND", ["d", "nd"], ["gn"]),
        helper.make_node("ScatterND", ["d", "snd", "upd"], ["sn"]),
        helper.make_node("OneHot", ["oh", "depth", "vals"], ["o"]),
    ], [vi("d", T.FLOAT, [3, 4, 5]), vi("st", i64, [2]), vi("en", i64, [2]), vi("ax", i64, [2]),
        vi("sp", i64, [2]), vi("sh", i64, [2]), vi("ex", i64, [4]), vi("rp", i64, [3]),
        vi("k", i64, [1]), vi("nd", i64, [6, 2]), vi("snd", i64, [5, 2]), vi("upd", T.FLOAT, [5, 5]),
        vi("oh", i64, [7])],
        [vi(n, T.FLOAT, None) for n in ("sl", "rs", "ep", "tl", "tv", "gn", "sn", "o")],
        [numpy_helper.from_array(np.array(3, np.int64), "depth"),
         numpy_helper.from_array(np.array([0, 1], np.float32), "vals")])
    for seed in range(8):
        x = _gen(m, seed)
        assert len(set(x["ax"].tolist())) == 2 and (x["sp"] != 0).all()
        assert np.prod(x["sh"]) == 60 or (-1 in x["sh"])
        assert 1 <= int(x["k"][0]) <= 5
        assert (x["nd"][:, 0] < 3).all() and (x["nd"][:, 1] < 4).all() and (x["nd"] >= 0).all()
        assert len({tuple(r) for r in x["snd"].tolist()}) == 5, "ScatterND indices are distinct"
        assert ((x["oh"] >= 0) & (x["oh"] < 3)).all()
        ReferenceEvaluator(m).run(None, x)


def test_generation_is_seeded_and_per_input():
    m = two_dynamic()
    a, b, c = _gen(m, 0), _gen(m, 0), _gen(m, 1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["x"], c["x"])
    # an input's data does not depend on the other inputs
    only_x = generate_inputs(m, {"x": io.input_specs(m)["x"]}, seed=0)
    assert np.array_equal(only_x["x"], a["x"])


# ---------------------------------------------------------------------------------------------
# onnx's own backend node tests: their stored .pb inputs, as .npy, through load_inputs
# ---------------------------------------------------------------------------------------------

def _corpus_tool():
    from conftest import tool

    return tool("onnx_corpus")


@pytest.fixture(scope="module")
def node_data():
    tool = _corpus_tool()
    try:
        return tool, tool.find_data()
    except SystemExit:
        pytest.skip(f"no onnx backend node test data (onnx {onnx.__version__} ships none): "
                    f"run `python tools/onnx_corpus.py fetch`")


def test_corpus_selection_is_deterministic_and_varied(node_data):
    tool, data = node_data
    a = tool.select(data)
    assert [d["name"] for d in a] == [d["name"] for d in tool.select(data)]
    st = tool.stats(a)
    assert st["models"] >= 150 and st["op_types"] >= 100, st
    for cat in ("int-div-mod", "index", "slice", "log-sqrt-pow", "rank0", "dynamic", "shape-input"):
        assert st["by_category"].get(cat, 0) >= 3, (cat, st["by_category"])


@pytest.fixture(scope="module")
def node_corpus(node_data, tmp_path_factory):
    tool, data = node_data
    sel = tool.select(data, per_op=1, per_category=3)
    # one or two per category, in the installed onnx's opset range, kept small so the test is fast
    picked, seen = [], {}
    for d in sel:
        if d["source"] == "light" or (d["opset"] or 1) > onnx.defs.onnx_opset_version():
            continue
        for c in d["categories"] or ["plain"]:
            if seen.get(c, 0) < 2:
                seen[c] = seen.get(c, 0) + 1
                picked.append(d)
                break
    out = tmp_path_factory.mktemp("corpus")
    return tool.copy_corpus(picked, str(out)), str(out)


def test_stored_node_test_inputs_load_through_the_input_path(node_corpus):
    from harness.models import references

    manifest, out = node_corpus
    checked = 0
    for e in manifest["models"]:
        if not e["inputs"]:
            continue
        d = os.path.join(out, e["name"])
        model, _ = io.load_model(os.path.join(d, "model.onnx"))
        items = [f"{n}={os.path.join(d, rel)}" for n, rel in e["inputs"].items()]
        given = load_inputs(items, model)
        assert list(given) == [n for n in io.declared_inputs(model) if n in given]
        specs = io.input_specs(model, given=given)
        assert {k: v[0] for k, v in specs.items()} == {k: v.shape for k, v in given.items()}
        expected = [np.load(os.path.join(d, rel), allow_pickle=False) for rel in e["expected"]]
        ref = references.onnx_reference(model, given)
        if not ref.ok:      # an op the installed evaluator lacks: not what this test is about
            continue
        agreement = references.compare_outputs(ref.outputs, expected, rtol=1e-3, atol_scale=1e-4)
        assert agreement.agree, (e["name"], agreement.reason)
        checked += 1
    assert checked >= 8, manifest["stats"]
    cats = manifest["stats"]["by_category"]
    assert cats.get("rank0") and cats.get("index") and cats.get("int-div-mod"), cats


def test_expand_shape_is_the_declared_result_with_a_keep_axis():
    """Expand's shape input makes the declared output and uses 1 ("keep") where the data is
    larger than 1, as onnx's own test does: the broadcasting rule is exercised."""
    from onnx.reference import ReferenceEvaluator

    m = _model([helper.make_node("Expand", ["d", "s"], ["y"])],
               [vi("d", T.FLOAT, [3, 1]), vi("s", T.INT64, [3])], [vi("y", T.FLOAT, [2, 3, 6])])
    x = _gen(m)
    assert x["s"].tolist() == [2, 1, 6]
    assert ReferenceEvaluator(m).run(None, x)[0].shape == (2, 3, 6)
    free = _model([helper.make_node("Expand", ["d", "s"], ["y"])],
                  [vi("d", T.FLOAT, [3, 1]), vi("s", T.INT64, [2])], [vi("y", T.FLOAT, None)])
    assert _gen(free)["s"].tolist() == [1, 2]     # size-1 axis expanded, size-3 axis kept by 1
