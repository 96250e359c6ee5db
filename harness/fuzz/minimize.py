"""The spec-level minimizer, after Hypothesis (whose shrinking the run caps in time): it works on
the program's structure, which Hypothesis' byte-level shrinking reaches only slowly.

Two moves, each keeping the program valid (every value keeps its shape and dtype):

* :func:`drop` removes a node and every node depending on it;
* :func:`lift` feeds one argument of a node from a new program input of the same shape and dtype,
  cutting the chain that made it (the chain's nodes are then dropped).
"""
from __future__ import annotations

import time
from typing import Callable


def _outputs(n_in: int, nodes: list) -> list[int]:
    used = {a for n in nodes for a in n["args"]}
    return [j for j in range(n_in, n_in + len(nodes)) if j not in used]


def drop(spec: dict, k: int) -> dict:
    """The spec without node k and every node depending on it (values renumbered)."""
    n_in = len(spec["inputs"])
    gone = {n_in + k}
    for j, node in enumerate(spec["nodes"]):
        if any(a in gone for a in node["args"]):
            gone.add(n_in + j)
    remap, kept = {i: i for i in range(n_in)}, []
    for j, node in enumerate(spec["nodes"]):
        if n_in + j in gone:
            continue
        remap[n_in + j] = n_in + len(kept)
        kept.append({**node, "args": [remap[a] for a in node["args"]]})
    return {**spec, "nodes": kept, "outputs": _outputs(n_in, kept)}


def lift(spec: dict, k: int, a: int) -> dict | None:
    """Argument ``a`` of node k read from a new input instead (None: it already is an input)."""
    n_in = len(spec["inputs"])
    arg = spec["nodes"][k]["args"][a]
    if arg < n_in:
        return None
    shape, dtype = spec["nodes"][arg - n_in]["out"]
    nodes = []
    for j, node in enumerate(spec["nodes"]):
        args = [x + 1 if x >= n_in else x for x in node["args"]]    # node values move up by one
        if j == k:
            args[a] = n_in
        nodes.append({**node, "args": args})
    return {**spec, "inputs": spec["inputs"] + [[list(shape), dtype]], "nodes": nodes,
            "outputs": _outputs(n_in + 1, nodes)}


def _unused_inputs_dropped(spec: dict) -> dict:
    n_in = len(spec["inputs"])
    used = sorted({a for n in spec["nodes"] for a in n["args"] if a < n_in})
    if len(used) == n_in or not used:
        return spec
    remap = {old: new for new, old in enumerate(used)}
    delta = n_in - len(used)
    nodes = [{**n, "args": [remap[x] if x < n_in else x - delta for x in n["args"]]} for n in spec["nodes"]]
    return {**spec, "inputs": [spec["inputs"][i] for i in used], "nodes": nodes,
            "outputs": _outputs(len(used), nodes)}


def minimize(spec: dict, shows: Callable[[dict], bool], deadline: float) -> dict:
    """Greedily drop nodes (unused inputs with them) while ``shows(spec)`` holds; when none can go,
    lift one argument and try again; until ``deadline`` (``time.monotonic()``).  Returns ``spec``
    itself when nothing smaller shows it.  Ends: a lift makes one argument an input for good."""
    changed = True
    while changed and time.monotonic() < deadline:
        changed = False
        for k in range(len(spec["nodes"]) - 1, -1, -1):
            if k < len(spec["nodes"]) and time.monotonic() < deadline:
                cand = _unused_inputs_dropped(drop(spec, k))
                if cand["nodes"] and shows(cand):
                    spec, changed = cand, True
        if changed:
            continue
        lifts = ((k, a) for k in range(len(spec["nodes"]) - 1, -1, -1) for a in range(len(spec["nodes"][k]["args"])))
        for k, a in lifts:
            cand = lift(spec, k, a)
            if time.monotonic() >= deadline:
                break
            if cand is not None and shows(cand):
                spec, changed = cand, True
                break
    return spec
