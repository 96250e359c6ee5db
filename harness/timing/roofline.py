"""Where a case's measured device time sits on the roofline of the card it ran on; the case's
cost (FLOPs, bytes) comes from :mod:`harness.timing.cost`.

Roofline: intensity = FLOPs / bytes; ridge = compute peak / memory bandwidth.  Below the ridge the
memory roof applies and the fraction of peak is achieved bytes/s over the bandwidth; at or above
it the compute roof applies and the fraction is achieved FLOP/s over the compute peak.  Ops with
no FLOPs are judged against the memory roof.  The compute peak is chosen by dtype and op kind:

- float16/bfloat16 matmul, dense and convolutions: the FP16/BF16 tensor-core dense peak, the
  ceiling such an op has on the card (cuBLAS, cuDNN and TensorRT run them on tensor cores);
- float32 matmul, dense and convolutions: the FP32 (CUDA-core) peak, because FP32 math is what
  TVM's CUDA build and a strict-FP32 engine compute; TF32 changes the numerics.  The fraction of
  the TF32 tensor-core peak is reported beside it (``fraction_of_tf32_tensor``), since TensorRT
  may use TF32 for FP32 layers on Ampere and later;
- everything else: FP32 for float32; for float16 the FP16 non-tensor peak, or FP32 where that is
  not published (said in ``compute_roof.why``);
- other dtypes (int32, float64): no compute roof in the table; the memory roof alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .cost import TENSOR_CORE_OPS, case_cost
from .peaks import UNKNOWN_CARD, Peak, lookup

if TYPE_CHECKING:
    from ..records import Roofline


def compute_roof(op: str, dtype: str, peak: Peak) -> tuple[str | None, float | None, str]:
    """(peak name, FLOP/s, why) of the compute roof for ``op`` in ``dtype`` on ``peak``'s card."""
    mac = op in TENSOR_CORE_OPS
    if dtype in ("float16", "bfloat16") and mac:
        name = "fp16_tensor" if dtype == "float16" else "bf16_tensor"
        return name, getattr(peak, name).value, (f"{dtype} {op}: tensor-core dense peak, the ceiling of a "
                                                 "multiply-accumulate op in half precision")
    if dtype == "float32" and mac:
        return "fp32", peak.fp32.value, ("float32 multiply-accumulate: FP32 CUDA-core peak (FP32 math as "
                                         "computed; TF32 changes numerics), TF32 fraction reported beside")
    if dtype == "float32":
        return "fp32", peak.fp32.value, "float32, no tensor-core work: FP32 peak"
    if dtype in ("float16", "bfloat16"):
        if peak.fp16 is not None:
            return "fp16", peak.fp16.value, f"{dtype}, no tensor-core work: FP16 non-tensor peak"
        return "fp32", peak.fp32.value, (f"{dtype}, no tensor-core work: FP16 non-tensor peak not "
                                         f"published for {peak.model}, FP32 peak used")
    return None, None, f"no compute peak for dtype {dtype} in the table: memory roof only"


def analyse(case, device_s: float | None, device_name: str | None = None, *, peak: Peak | None = None) -> dict:
    """The case's cost and its position on the card's roofline for a device time per call.

    Keys: op, dtype, out_shapes, flops, bytes, intensity (FLOP/byte), device_s,
    achieved_flops_per_s, achieved_bytes_per_s, card (the matched model or None), peaks (memory_bw,
    compute_roof {name, flops_per_s, why}, ridge FLOP/byte), roof ("memory" | "compute" | None),
    fraction_of_peak (of the roof that applies), fraction_of_memory_bw, fraction_of_compute,
    fraction_of_tf32_tensor (float32 MAC ops only), note (why a figure is missing)."""
    cost = case_cost(case)
    out: dict[str, Any] = {**cost, "device_s": device_s, "achieved_flops_per_s": None,
                           "achieved_bytes_per_s": None, "card": None, "peaks": None, "roof": None,
                           "fraction_of_peak": None, "fraction_of_memory_bw": None,
                           "fraction_of_compute": None, "fraction_of_tf32_tensor": None, "note": None}
    if device_s is None or device_s <= 0:
        out["note"] = "no device time: no achieved rate, no fraction"
    else:
        out["achieved_bytes_per_s"] = cost["bytes"] / device_s
        if cost["flops"] is not None:
            out["achieved_flops_per_s"] = cost["flops"] / device_s
    peak = peak or lookup(device_name)
    if peak is None:
        out["note"] = UNKNOWN_CARD if out["note"] is None else f"{out['note']}; {UNKNOWN_CARD}"
        return out
    name, cpeak, why = compute_roof(cost["op"], cost["dtype"], peak)
    bw = peak.memory_bw.value
    ridge = cpeak / bw if cpeak else None
    out["card"] = peak.model
    out["peaks"] = {"memory_bw": bw, "compute_roof": {"name": name, "flops_per_s": cpeak, "why": why},
                    "ridge": ridge}
    ai = cost["intensity"]
    out["roof"] = "compute" if (ai is not None and ridge is not None and ai >= ridge) else "memory"
    if out["achieved_bytes_per_s"] is None:
        return out
    out["fraction_of_memory_bw"] = out["achieved_bytes_per_s"] / bw
    if out["achieved_flops_per_s"] is not None and cpeak:
        out["fraction_of_compute"] = out["achieved_flops_per_s"] / cpeak
        if cost["dtype"] == "float32" and cost["op"] in TENSOR_CORE_OPS:
            out["fraction_of_tf32_tensor"] = out["achieved_flops_per_s"] / peak.tf32_tensor.value
    out["fraction_of_peak"] = out["fraction_of_compute"] if out["roof"] == "compute" else out["fraction_of_memory_bw"]
    if out["fraction_of_memory_bw"] > 1:
        out["note"] = (f"moved {cost['bytes'] / 1e6:.1f} MB at {out['fraction_of_memory_bw']:.2f}x the card's memory "
                       "bandwidth: between back-to-back calls the working set stayed in cache (L2), so this "
                       "is a warm-cache figure, above the DRAM roof")
    return out


def roofline_of(case, timing) -> "Roofline":
    """The :class:`harness.records.Roofline` of a case's :class:`~harness.records.Timing` (its device
    time on its card), as records carry it."""
    from ..records import Roofline

    a = analyse(case, timing.device.median_s if timing.device else None, timing.gpu)
    peaks = a.get("peaks") or {}
    compute = peaks.get("compute_roof") or {}
    return Roofline(flops=a["flops"], bytes=a["bytes"], intensity=a["intensity"],
                    achieved_flop_s=a["achieved_flops_per_s"], achieved_byte_s=a["achieved_bytes_per_s"],
                    roof=a["roof"], peak_flop_s=compute.get("flops_per_s"), peak_byte_s=peaks.get("memory_bw"),
                    fraction=a["fraction_of_peak"], compute_roof=compute.get("name"), card=a["card"],
                    note=a["note"] or "")
