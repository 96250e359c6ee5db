"""harness.table.validate on hand-built tables, and harness.seed reading the vendored seed."""
from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np
import pytest

from harness import families as F
from harness.errors import TableError
from harness.records import Tolerance
from harness.seed import seed_operators, seed_text
from harness.table import BY_NAME, DEFAULT_TOL, OPS, OpEntry, validate

SEED = {"nn.relu": None, "exp": None, "clip": (5, 1, 5)}


def entry(name, *, min_trt=None, tvm_op="relax.x", family=F.Unary(), ref=np.abs, **kw) -> OpEntry:
    return OpEntry(name=name, min_trt=min_trt, tvm_op=tvm_op, family=family, ref=ref, **kw)


def table(**changes) -> list[OpEntry]:
    """A table that agrees with SEED, with entries replaced by name."""
    ops = {"nn.relu": entry("nn.relu"), "exp": entry("exp"), "clip": entry("clip", min_trt=(5, 1, 5))}
    ops.update(changes)
    return [e for e in ops.values() if e is not None]


def error_of(ops, seed=SEED) -> str:
    with pytest.raises(TableError) as info:
        validate(tuple(ops), seed)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_a_table_that_agrees_passes():
    validate(tuple(table()), SEED)
    validate(tuple(table(exp=OpEntry(name="exp", min_trt=None, tvm_op=None, no_equivalent="none in Relax"))), SEED)


def test_missing_op():
    assert error_of(table(exp=None)) == ("table has 2 ops, seed lists 3; missing: ['exp']; extra: []; "
                                         "duplicated: []")


def test_extra_op():
    assert error_of(table() + [entry("nn.rleu")]) == ("table has 4 ops, seed lists 3; missing: []; extra: "
                                                      "['nn.rleu']; duplicated: []")


def test_misspelt_op_is_missing_and_extra():
    msg = error_of(table(exp=None) + [entry("expp")])
    assert "missing: ['exp']; extra: ['expp']" in msg


def test_duplicated_op():
    assert error_of(table() + [entry("exp")]).endswith("missing: []; extra: []; duplicated: ['exp']")


def test_wrong_min_version():
    msg = error_of(table(clip=entry("clip", min_trt=(6, 0, 1)), exp=entry("exp", min_trt=(5, 1, 5))))
    assert msg == ("minimum TensorRT version differs from the seed (table, seed): {'exp': ((5, 1, 5), None), "
                   "'clip': ((6, 0, 1), (5, 1, 5))}")
    assert "clip" in error_of(table(clip=entry("clip", min_trt=None)))


@pytest.mark.parametrize("min_trt", [(5, 1), (5, 1, 5, 0), (5, -1, 5), (5, 1.0, 5), [5, 1, 5], "5.1.5"])
def test_malformed_min_version(min_trt):
    msg = error_of(table(clip=entry("clip", min_trt=min_trt)))
    assert msg == f"table entry 2 ('clip'): min_trt must be a (major, minor, patch) tuple, got {min_trt!r}"


@pytest.mark.parametrize("tol", [Tolerance(atol=-1.0, rtol=0.0), Tolerance(atol=0.0, rtol=-1e-9), (1e-5, 1e-5)])
def test_bad_tolerance(tol):
    msg = error_of(table(exp=entry("exp", tol=MappingProxyType({"float16": tol}))))
    assert msg == f"table entry 1 ('exp'): tolerance for float16 must be a Tolerance with atol, rtol >= 0, got {tol!r}"


def test_zero_tolerance_is_fine():
    validate(tuple(table(exp=entry("exp", tol={"int32": Tolerance(atol=0.0, rtol=0.0)}))), SEED)


@pytest.mark.parametrize("change", [{"family": None}, {"ref": None}, {"tvm_op": "exp"}])
def test_missing_family_or_reference_or_relax_name(change):
    e = entry("exp", **change)
    msg = error_of(table(exp=e))
    assert msg == ("table entry 1 ('exp'): a mapped op needs a family, a reference function and a 'relax.' op "
                   f"name, got {e.tvm_op!r}")


def test_exactly_one_of_tvm_op_and_no_equivalent():
    both = entry("exp", no_equivalent="why")
    neither = OpEntry(name="exp", min_trt=None, tvm_op=None)
    assert error_of(table(exp=both)) == "table entry 1 ('exp'): give exactly one of tvm_op and no_equivalent"
    assert error_of(table(exp=neither)) == "table entry 1 ('exp'): give exactly one of tvm_op and no_equivalent"


@pytest.mark.parametrize("dtypes", [(), ("float32", "bfloat16")])
def test_dtypes_must_have_tolerances(dtypes):
    msg = error_of(table(exp=entry("exp", dtypes=dtypes)))
    assert msg == (f"table entry 1 ('exp'): dtypes must be a non-empty subset of {sorted(DEFAULT_TOL)}, "
                   f"got {dtypes!r}")


def test_an_unmapped_op_needs_no_family():
    validate(tuple(table(exp=OpEntry(name="exp", min_trt=None, tvm_op=None, no_equivalent="x", dtypes=()))), SEED)


def test_not_an_op_entry():
    assert error_of(table() + [("exp", None)]) == "table entry 3 ('?'): not an OpEntry"


def test_every_problem_of_the_entries_is_listed():
    msg = error_of(table(nn_relu=None, exp=entry("exp", ref=None), clip=entry("clip", min_trt=(5,))))
    assert msg.count("table entry") == 2 and "; " in msg


def test_the_table_agrees_with_the_seed():
    validate(OPS, seed_operators())
    assert len(OPS) == len(BY_NAME) == 57


# -- the seed document ------------------------------------------------------------------------------
def test_seed_operators_reads_the_vendored_table():
    ops = seed_operators()
    assert len(ops) == 57
    assert ops["nn.relu"] is None and ops["nn.conv2d"] is None
    assert ops["clip"] == ops["split"] == ops["nn.leaky_relu"] == (5, 1, 5)
    assert ops["nn.conv3d"] == ops["nn.conv3d_transpose"] == (6, 0, 1)
    assert ops["erf"] == (7, 0, 0)
    mins = {}
    for name, version in ops.items():
        mins.setdefault(version, []).append(name)
    assert {k: len(v) for k, v in mins.items()} == {None: 43, (5, 1, 5): 9, (6, 0, 1): 4, (7, 0, 0): 1}
    assert seed_operators(seed_text()) == ops


def test_seed_remarks_match_the_document():
    for line in seed_text().splitlines():
        m = re.match(r"^\|\s*([A-Za-z0-9_.]+)\s*\|\s*Requires TensorRT (\d+)\.(\d+)\.(\d+)", line.strip())
        if m:
            assert seed_operators()[m.group(1)] == tuple(int(g) for g in m.groups()[1:])


TABLE = """\
| Relay Node | Remarks |
| nn.relu |  |
| clip | Requires TensorRT 5.1.5 or greater |
"""


def test_seed_operators_of_given_text():
    assert seed_operators(TABLE) == {"nn.relu": None, "clip": (5, 1, 5)}
    assert seed_operators("prose\n" + TABLE + "| not a row\n") == {"nn.relu": None, "clip": (5, 1, 5)}
    assert seed_operators("  | exp | Requires TensorRT 10.0.1 or greater |  ") == {"exp": (10, 0, 1)}


@pytest.mark.parametrize("text,expect", [
    ("no table here\n", "seed document has no operator table"),
    ("", "seed document has no operator table"),
    ("| Relay | Remarks |\n", "seed document has no operator table"),
    (TABLE + "| exp | Needs TensorRT 7 |\n", "seed table row 'exp': unreadable remark 'Needs TensorRT 7'"),
    (TABLE + "| exp | Requires TensorRT 7.0 or greater |\n", "seed table row 'exp': unreadable remark"),
    (TABLE + "| clip |  |\n", "seed table lists 'clip' twice"),
])
def test_seed_operators_refuses_malformed_text(text, expect):
    with pytest.raises(TableError) as info:
        seed_operators(text)
    assert str(info.value).startswith(expect)


@pytest.mark.parametrize("seed", range(20))
def test_int_products_stay_inside_int32(seed):
    """The nightly profile at seed 1 drew prod int32 over 30 elements in [-6, 6] and TVM's wrapped
    result was compared with a float64 product: an overflow, undefined in TVM's integer arithmetic,
    is not a departure.  prod's integer inputs now keep every product inside int32."""
    import numpy as np

    entry = BY_NAME["prod"]
    rng = np.random.default_rng(seed)
    x = entry.domain.draw(rng, (4, 4, 4, 4), "int32")
    assert x.dtype == np.int32 and np.abs(x).max() <= 6 and np.abs(x).max() > 1
    whole = np.prod(x.astype(object))                   # exact, no wrapping
    assert abs(whole) < 2**31
    for axis in range(4):                               # every partial product too
        assert np.abs(np.prod(x.astype(np.int64), axis=axis)).max() < 2**31
    f = entry.domain.draw(rng, (4, 4, 4, 4), "float32")  # floats keep their own squash
    assert np.isfinite(np.prod(f.astype(np.float64))) and 0.7 < np.abs(f).min()


# -- how many products one output sums (the comparison's rounding allowance) -----------------------
def _case(op, shapes, attrs=None, weights=(), dtype="float32"):
    from harness.case import Case

    return Case(op=op, dtype=dtype, shapes=tuple(shapes), attrs=dict(attrs or {}), weights=tuple(weights))


@pytest.mark.parametrize("op, attrs, weight, terms", [
    # convolution: (input channels / groups) x taps, from O, I/g, taps in any kernel layout
    ("nn.conv2d", {"kernel_layout": "OIHW", "groups": 1}, (8, 4, 3, 3), 36),
    ("nn.conv2d", {"kernel_layout": "HWIO", "groups": 1}, (3, 3, 4, 8), 36),
    ("nn.conv2d", {"kernel_layout": "OIHW", "groups": 2}, (8, 2, 3, 3), 18),
    ("nn.conv3d", {"kernel_layout": "OIDHW", "groups": 1}, (512, 512, 3, 3, 3), 13824),
    ("nn.conv1d", {"kernel_layout": "WIO", "groups": 1}, (5, 3, 2), 15),
    # transposed: I, O/g, taps; each output meets (I / g) x taps inputs at most
    ("nn.conv2d_transpose", {"kernel_layout": "IOHW", "groups": 2}, (4, 3, 3, 3), 18),
    ("nn.conv3d_transpose", {"kernel_layout": "IODHW", "groups": 1}, (6, 2, 1, 2, 2), 24),
])
def test_conv_terms(op, attrs, weight, terms):
    e = BY_NAME[op]
    assert e.family.terms(e, _case(op, [(1, 1, 1)], attrs, (("weight", weight),))) == terms


def test_dense_and_batch_matmul_terms_are_the_inner_dimension():
    d, b = BY_NAME["nn.dense"], BY_NAME["nn.batch_matmul"]
    assert d.family.terms(d, _case("nn.dense", [(2, 3, 768)], {"units": 5}, (("weight_t", (768, 5)),))) == 768
    assert b.family.terms(b, _case("nn.batch_matmul", [(2, 4, 64), (2, 64, 9)])) == 64


def test_only_sums_of_products_get_the_allowance():
    from harness.compare import accumulation
    from harness.engine import target_for

    conv = _case("nn.conv2d", [(1, 4, 5, 5)], {"kernel_layout": "OIHW", "data_layout": "NCHW", "groups": 1,
                                                "strides": [1, 1], "padding": [0, 0], "dilation": [1, 1]},
                 (("weight", (8, 4, 3, 3)),), dtype="float16")
    t = target_for(BY_NAME["nn.conv2d"], conv)
    assert t.terms == 36 and t.tolerance.acc == accumulation(36, "float16")
    assert (t.tolerance.atol, t.tolerance.rtol) == (BY_NAME["nn.conv2d"].tolerance("float16").atol,
                                                    BY_NAME["nn.conv2d"].tolerance("float16").rtol)
    for op in ("add", "nn.softmax", "sum", "nn.max_pool2d"):
        e = BY_NAME[op]
        assert e.family.terms(e, _case(op, [(2, 3)])) is None
