"""The plan of an op-suite run: which cases, in which units of work, on which CI shard.

Cases are drawn before anything runs: for each operator, Hypothesis draws the op's cases from
:func:`harness.table.cases` under the run's profile and seed, with a body that only collects
them.  The case list therefore depends only on the strategies, the profile and the seed (not on
how long a case takes or which check fails), every process of a run (xdist workers, CI shards)
draws the same list, and a run can be split and merged by (op, case).  The plan is kept beside the
build cache; what is not kept yet is drawn by child interpreters (:class:`Children`), which the
pytest controller starts before it imports TVM.

Units of work are chunks of one op's cases; each unit runs every selected check of its cases with
one batched build per backend.  Units are handed out slowest first.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass, field

from .case import Case
from .errors import InputError

#: Relative cost of one case by family, from measured build times (conv transposes and 3-D
#: convolutions build the slowest); used only to order units, never to judge anything.
_COST = {"Conv": 3.0, "Pool": 2.0, "AdaptiveAvgPool": 1.5, "LayerNorm": 1.5, "BatchNorm": 1.5}


@dataclass(frozen=True)
class Unit:
    """A chunk of one op's cases: one pytest item, one batched build per backend."""

    op: str
    index: int
    of: int
    cases: tuple = field(default=(), compare=False)
    skip: str = field(default="", compare=False)     # why nothing of this op runs (an op the table lacks)

    @property
    def id(self) -> str:
        return f"{self.op}" if self.of == 1 else f"{self.op}-{self.index + 1}of{self.of}"

    def cost(self, entry) -> float:
        fam = type(entry.family).__name__
        weight = _COST.get(fam, 1.0)
        if fam == "Conv" and (entry.family.params.get("nsp") == 3 or entry.family.params.get("transpose")):
            weight *= 2
        return weight * len(self.cases)


#: ``exactly`` draws at most this many times the asked number of examples before it settles for fewer
EXACTLY_MAX_FACTOR = 8


def draw_cases(entry, *, seed: int | None, exactly: int | None = None) -> list[Case]:
    """The op's cases under the loaded Hypothesis profile, in the order drawn, without repeats.

    ``exactly`` (``--trt-cases N``): the first N distinct cases.  Hypothesis repeats some examples,
    so where N examples give fewer than N distinct cases the op is drawn again, with the same seed
    and more examples (at most EXACTLY_MAX_FACTOR * N), until N are distinct or a larger draw finds
    no new one (the strategy holds fewer: all of them are kept)."""
    if exactly is None:
        return _draw(entry, seed, None)
    examples, out = exactly, []
    while True:
        got = _draw(entry, seed, examples)
        if len(got) >= exactly or len(got) <= len(out) or examples >= EXACTLY_MAX_FACTOR * exactly:
            out = got if len(got) > len(out) else out
            return out[:exactly]
        out = got
        examples = min(EXACTLY_MAX_FACTOR * exactly, 2 * examples)


def _draw(entry, seed: int | None, examples: int | None) -> list[Case]:
    from hypothesis import given, settings
    from hypothesis import seed as hypothesis_seed

    from .table import cases

    drawn: list[Case] = []

    def collect(case):
        drawn.append(case)

    chosen = {"max_examples": examples} if examples is not None else {}
    test = settings(database=None, **chosen)(given(case=cases(entry))(collect))
    if seed is not None:
        test = hypothesis_seed(seed)(test)
    with _no_local_constants(), warnings.catch_warnings():
        # drawn while pytest configures (the results header carries the plan's hash): Hypothesis
        # warns of strategies evaluated during plugin initialisation, which is what this is for
        warnings.filterwarnings("ignore", message="Slow code in plugin")
        test()
    return list(dict.fromkeys(drawn))


#: Said in the plan key: plans drawn before local constants were shut out are drawn again.
LOCAL_CONSTANTS = "local constants excluded"


@contextlib.contextmanager
def _no_local_constants():
    """Hypothesis (6.1xx) mixes literals found in every *imported local module* into a few of its
    draws, so the same strategy, profile and seed drew other cases in a pytest process than in a
    plain one, and other cases again once any harness or test file changed a literal (seen: 24 of
    596 ci cases, from the third example of nn.pad, squeeze, layout_transform and avg_pool3d on).
    A plan must depend only on the strategies, Hypothesis, the profile and the seed: while it is
    drawn, the pool of local constants is empty (Hypothesis's own global constants stay).  Uses
    Hypothesis internals: where they are missing, nothing is changed (older versions have no
    local constants)."""
    try:
        from hypothesis.internal.conjecture import providers as P
    except ImportError:        # pragma: no cover - Hypothesis without the conjecture providers
        yield
        return
    get, cache, constants = (getattr(P, n, None) for n in ("_get_local_constants", "CONSTANTS_CACHE", "Constants"))
    if get is None or cache is None or constants is None:
        yield
        return
    empty = constants()
    P._get_local_constants = lambda: empty
    cache.cache.clear()        # allowed constants computed with local ones
    try:
        yield
    finally:
        P._get_local_constants = get
        cache.cache.clear()


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """'2/3' -> (2, 3): the second of three CI jobs."""
    if not text:
        return None
    try:
        k, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise InputError(f"--trt-shard: expected K/N (e.g. 2/3), got {text!r}") from None
    if not (1 <= k <= n):
        raise InputError(f"--trt-shard: need 1 <= K <= N, got {text!r}")
    return k, n


def make_units(entries, cases_of: dict[str, list[Case]], *, chunk: int, shard: tuple[int, int] | None = None
               ) -> list[Unit]:
    """Units of at most ``chunk`` cases per op, slowest first; with ``shard`` (K, N), only the
    K-th of N deterministic parts of the (op, case) pairs (round robin over the pairs ordered by
    cost, so each part gets a share of the slow ops)."""
    if chunk < 1:
        raise InputError(f"--trt-chunk must be a positive integer, got {chunk}")
    by_name = {e.name: e for e in entries}
    if shard is not None:
        k, n = shard
        pairs = [(e.name, c) for e in sorted(entries, key=lambda e: -Unit(e.name, 0, 1, (None,)).cost(e))
                 for c in cases_of.get(e.name, [])]
        keep = {(op, c.case_id) for i, (op, c) in enumerate(pairs) if i % n == k - 1}
        cases_of = {op: [c for c in cs if (op, c.case_id) in keep] for op, cs in cases_of.items()}
    units = []
    for e in entries:
        cs = cases_of.get(e.name, [])
        if not cs:
            continue
        n = math.ceil(len(cs) / chunk)
        size = math.ceil(len(cs) / n)
        units.extend(Unit(e.name, i, n, tuple(cs[i * size:(i + 1) * size])) for i in range(n))
    order = {e.name: i for i, e in enumerate(entries)}
    return sorted(units, key=lambda u: (-u.cost(by_name[u.op]), order[u.op], u.index))


def _plan_key(entry, settings) -> str:
    """What a drawn case list depends on: the strategies' code, Hypothesis, the profile and seed."""
    import hashlib
    import inspect
    import json

    import hypothesis

    from . import case as case_mod
    from . import families, strategies, table

    src = "".join(inspect.getsource(m) for m in (case_mod, strategies, table, families.base,
                                                  inspect.getmodule(type(entry.family))))
    prof = hypothesis.settings()
    facts = [entry.name, hypothesis.__version__, prof.max_examples, [str(p) for p in prof.phases], settings.seed,
             LOCAL_CONSTANTS]
    exactly = getattr(settings, "cases", None)
    if exactly:   # said only when set: the keys of profile-drawn plans stay as they were
        facts.append(f"exactly {exactly}")
    return hashlib.sha256(json.dumps(facts).encode() + src.encode()).hexdigest()[:24]


def _plan_path(entry, settings) -> str | None:
    """Where the entry's cases for this profile and seed are kept (None without a build cache)."""
    if not settings.build_cache:
        return None
    return os.path.join(os.path.dirname(settings.build_cache), "plans", f"{_plan_key(entry, settings)}.json")


def cached_cases(entries, settings, *, drawing=None) -> dict[str, list[Case]]:
    """:func:`draw_cases` for each entry, kept beside the build cache (drawing the nightly profile's
    ten thousand cases takes over half a minute; under xdist every process needs the same list);
    ``drawing``: what :func:`start_drawing` started for them."""
    import json

    out, missing = {}, []
    for entry in entries:
        path = _plan_path(entry, settings)
        if path and os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    out[entry.name] = [Case.from_json(c) for c in json.load(fh)]
                continue
            except (OSError, ValueError, KeyError, TypeError):
                pass    # unreadable: draw again and replace it
        missing.append((entry, path))
    got = drawing.collect() if drawing is not None else {}
    out.update({e.name: got[e.name] for e, _ in missing if e.name in got})
    out.update(_draw_all([e for e, _ in missing if e.name not in got], settings))
    for entry, path in missing:
        if path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.{os.getpid()}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump([c.to_json() for c in out[entry.name]], fh)
            os.replace(tmp, path)
    return {e.name: out[e.name] for e in entries}


def _draw_all(entries, settings) -> dict[str, list[Case]]:
    """The entries' cases: by fresh interpreters where the plan is large (:class:`Children`),
    else, and for the ops of a child that failed, in this process (a strategy's own error is then
    raised here, whole)."""
    children = start_children(entries, settings, early=False)
    here = children.collect() if children is not None else {}
    exactly = getattr(settings, "cases", None)
    return {e.name: here[e.name] if e.name in here else draw_cases(e, seed=settings.seed, exactly=exactly)
            for e in entries}


def start_drawing(entries, settings):
    """Start drawing the entries whose cases are not cached yet in fresh interpreters, to collect
    with :func:`cached_cases` (``drawing=``) later: the controller starts it before importing TVM."""
    missing = [e for e in entries if not ((path := _plan_path(e, settings)) and os.path.exists(path))]
    return start_children(missing, settings, early=True) if missing else None


#: Examples to draw before a plan drawn late (after TVM's import) is drawn by children: below it
#: (the ci profile) starting them costs more than it saves (2 cores: ci 0.56 s alone, 0.63 s in two).
PARALLEL_DRAW_MIN = 1000
#: The same for a plan started early, beside TVM's import: a few ops' cases (0.1 s) are drawn here.
EARLY_DRAW_MIN = 200


class Children:
    """``python -m harness.plan`` children drawing ``entries``, a share of the ops each (each draws
    exactly what this process would: see _no_local_constants; tests/test_plan.py compares them),
    started; :meth:`collect` waits for their cases.  A child that fails leaves its ops to the
    parent.  Why: the nightly plan (10,407 cases) took 32.9 s in the H100 run's pytest controller,
    before any builder could start; on 2 cores children draw it in 9.7 s instead of 20.8 s.  The
    controller starts them before it imports TVM (``early``), so the ci plan's 1.6 s goes behind it."""

    def __init__(self, entries, seed, exactly, profile: str, workers: int) -> None:
        import json
        import subprocess
        import sys

        order = sorted(entries, key=lambda e: -Unit(e.name, 0, 1, (None,)).cost(e))     # the slow ones first
        shares = [[e.name for e in order[i::workers]] for i in range(workers)]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self.procs = [subprocess.Popen([sys.executable, "-m", "harness.plan"], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
                      for _ in shares]
        for proc, names in zip(self.procs, shares):
            try:
                proc.stdin.write(json.dumps({"ops": names, "seed": seed, "exactly": exactly, "profile": profile}))
                proc.stdin.close()
            except OSError:      # it ended already: its ops are drawn by the parent
                pass
        self.got: dict | None = None

    def collect(self) -> dict:
        """op -> its cases, for the ops of every child that succeeded."""
        import json

        if self.got is None:
            self.got = {}
            for proc in self.procs:
                text = proc.stdout.read()
                proc.stdout.close()
                if proc.wait() == 0:
                    try:
                        self.got.update({op: [Case.from_json(c) for c in cs] for op, cs in json.loads(text).items()})
                    except (ValueError, KeyError, TypeError):
                        pass
        return self.got


def start_children(entries, settings, *, early: bool) -> Children | None:
    """Children for ``entries`` where they help: several cores, a named profile, the support
    table's own entries, and a plan large enough; else None (the parent draws)."""
    import hypothesis

    from .table import BY_NAME

    exactly, profile = getattr(settings, "cases", None), getattr(settings, "profile", None)
    workers = min(os.cpu_count() or 1, len(entries))
    if profile is None or workers < 2 or any(BY_NAME.get(e.name) is not e for e in entries):
        return None
    examples = (exactly or hypothesis.settings().max_examples) * len(entries)
    if examples < (EARLY_DRAW_MIN if early else PARALLEL_DRAW_MIN):
        return None
    return Children(entries, settings.seed, exactly, profile, workers)


def _child() -> None:
    """One child of :class:`Children`: a JSON request on stdin, the cases on stdout."""
    import json
    import sys

    from . import profiles
    from .table import BY_NAME

    ask = json.load(sys.stdin)
    profiles.use(ask["profile"], cases=ask["exactly"])
    json.dump({op: [c.to_json() for c in draw_cases(BY_NAME[op], seed=ask["seed"], exactly=ask["exactly"])]
               for op in ask["ops"]}, sys.stdout)


if __name__ == "__main__":
    _child()
