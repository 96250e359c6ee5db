"""A generated case: one operator applied to inputs of given shapes, dtype and attributes."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Case:
    op: str                                  # seed name of the operator, e.g. "nn.conv2d"
    dtype: str                               # dtype of the runtime inputs
    shapes: tuple                            # runtime input shapes
    attrs: dict = field(default_factory=dict, hash=False, compare=False)
    weights: tuple = ()                      # (name, shape) of weights bound as constants
    seed: int = 0                            # seeds the input data

    @property
    def attrs_key(self) -> str:
        return json.dumps(self.attrs, sort_keys=True, default=list)

    @property
    def case_id(self) -> str:
        """Stable across runs and machines, so the gate can match cases of two runs."""
        blob = json.dumps(
            [self.op, self.dtype, [list(s) for s in self.shapes], self.attrs_key,
             [[n, list(s)] for n, s in self.weights], self.seed],
            sort_keys=True,
        )
        return f"{self.op}-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"

    def to_json(self) -> dict:
        return {"op": self.op, "dtype": self.dtype, "shapes": [list(s) for s in self.shapes], "attrs": self.attrs,
                "weights": [[n, list(s)] for n, s in self.weights], "seed": self.seed}

    @classmethod
    def from_json(cls, d: dict) -> "Case":
        case = cls(d["op"], d["dtype"], tuple(tuple(s) for s in d["shapes"]), dict(d["attrs"]),
                   tuple((n, tuple(s)) for n, s in d["weights"]), int(d["seed"]))
        return case

    @classmethod
    def from_record(cls, rec) -> "Case":
        """The case a table op's :class:`~harness.records.Record` was made from (``case_id`` equal
        where the record has its seed; records of schema v2 before the seed was kept get seed 0)."""
        return cls(rec.op, rec.dtype, tuple(tuple(s) for s in rec.input_shapes), dict(rec.attrs),
                   tuple((n, tuple(s)) for n, s in rec.weights), int(rec.seed or 0))

    def describe(self) -> str:
        shapes = ", ".join("x".join(map(str, s)) or "scalar" for s in self.shapes)
        return f"{self.op} {self.dtype} [{shapes}] {self.attrs_key}"

    def __hash__(self) -> int:  # attrs are excluded from the dataclass hash; include them here
        return hash(self.case_id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Case) and self.case_id == other.case_id
