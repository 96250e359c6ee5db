"""Peak memory bandwidth and arithmetic throughput per GPU model, each figure with its source.

Every :class:`Figure` carries the value in SI units (bytes/s or FLOP/s), the figure as the source
prints it, and the source (a key of :data:`SOURCES`).  NVIDIA's datasheets print tensor-core
throughput *with 2:4 structured sparsity* (the asterisk/footnote); a dense operator can reach half
of it, so the dense value is the printed one divided by 2, said in the figure's ``note``.  The A100
datasheet prints the dense figure itself.  FP16 without tensor cores is not in the datasheets: it
comes from the architecture whitepapers where they print it, is derived (2 x FP32, the GH100 ratio
the Hopper whitepaper prints) where the same chip runs at the same FP32 rate, and is None where no
NVIDIA document gives it (L4).

:func:`lookup` maps the device name TVM reports (``tvm.cuda(i).device_name``, which is CUDA's
``cudaDeviceProp.name``: "NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB",
"NVIDIA L4", ...) to an entry; an unknown card gives None, and the caller reports
:data:`UNKNOWN_CARD`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

UNKNOWN_CARD = "unknown card: no peak, no fraction"

SOURCES = {
    "h200-datasheet": (
        "NVIDIA H200 Tensor Core GPU datasheet (SC23), table 'Technical Specifications', columns "
        "H200 SXM / H200 NVL; footnote: tensor-core figures 'With sparsity'",
        "https://nvdam.widen.net/s/nb5zzzsjdf/hpc-datasheet-sc-nvidia-h200-datasheet-nvidia-us "
        "(same table: https://www.nvidia.com/en-us/data-center/h200/)"),
    "h100-datasheet": (
        "NVIDIA H100 Tensor Core GPU datasheet, table 'Technical Specifications', columns H100 SXM / "
        "H100 NVL (the 2022 edition: H100 SXM / H100 PCIe); footnote: '* With sparsity'",
        "https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet "
        "(2022 edition with the PCIe column, as hosted by a reseller: "
        "https://www.megware.com/fileadmin/user_upload/LandingPage%20NVIDIA/nvidia-h100-datasheet.pdf)"),
    "hopper-whitepaper": (
        "NVIDIA H100 Tensor Core GPU Architecture whitepaper (GTC22), table 'Comparison of NVIDIA "
        "A100 and H100 Data Center GPUs', row 'Peak FP16 (non-Tensor) TFLOPS'",
        "https://resources.nvidia.com/en-us-tensor-core/gtc22-whitepaper-hopper"),
    "a100-datasheet": (
        "NVIDIA A100 Tensor Core GPU datasheet, table 'NVIDIA A100 Tensor Core GPU Specifications "
        "(SXM4 and PCIe Form Factors)', columns A100 80GB PCIe / A100 80GB SXM; '*With sparsity'",
        "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    "ampere-whitepaper": (
        "NVIDIA A100 Tensor Core GPU Architecture whitepaper, Table 1, row 'Peak FP16 (non-Tensor)'",
        "https://images.nvidia.com/aem-dam/en-zz/Solutions/data-center/nvidia-ampere-architecture-whitepaper.pdf"),
    "l4-datasheet": (
        "NVIDIA L4 Tensor Core GPU datasheet, table 'Specifications'; '* Shown with sparsity'",
        "https://www.nvidia.com/en-us/data-center/l4/ (datasheet as hosted by Cisco: "
        "https://www.cisco.com/c/dam/en/us/products/collateral/servers-unified-computing/"
        "ucs-c-series-rack-servers/nvidia-l4-gpu.pdf)"),
}

_SPARSE = "dense = printed / 2 (the printed figure is with 2:4 structured sparsity)"


@dataclass(frozen=True)
class Figure:
    value: float            # bytes/s or FLOP/s
    printed: str            # as the source prints it
    source: str             # key of SOURCES
    note: str = ""

    def as_dict(self) -> dict:
        title, url = SOURCES[self.source]
        return {"value": self.value, "printed": self.printed, "source": title, "url": url, "note": self.note}


@dataclass(frozen=True)
class Peak:
    model: str
    pattern: str                      # regex on the reported device name (case-insensitive)
    memory_bw: Figure                 # bytes/s
    fp32: Figure                      # FLOP/s, CUDA cores
    fp16: Figure | None               # FLOP/s, FP16 without tensor cores (None: not published)
    fp16_tensor: Figure               # FLOP/s, dense, FP16 in (FP32 accumulate where printed apart)
    bf16_tensor: Figure               # FLOP/s, dense
    tf32_tensor: Figure               # FLOP/s, dense

    def as_dict(self) -> dict:
        out = {"model": self.model}
        for key in ("memory_bw", "fp32", "fp16", "fp16_tensor", "bf16_tensor", "tf32_tensor"):
            fig = getattr(self, key)
            out[key] = fig.as_dict() if fig is not None else None
        return out


def _t(value_tflops, printed, source, note=""):
    return Figure(value_tflops * 1e12, printed, source, note)


def _sparse(printed_tflops, printed, source):
    return Figure(printed_tflops / 2 * 1e12, printed, source, _SPARSE)


def _derived_fp16(fp32_tflops, source):
    return Figure(2 * fp32_tflops * 1e12, f"not printed; 2 x FP32 ({fp32_tflops} TFLOPS)", source,
                  "derived: GH100 runs FP16 (non-tensor) at 2x its FP32 rate (Hopper whitepaper: "
                  "133.8 vs 66.9 TFLOPS on H100 SXM5)")


PEAKS: tuple[Peak, ...] = (
    # first match wins: the NVL/PCIe variants come before the bare model name
    Peak("H200 NVL", r"\bH200 NVL\b",
         memory_bw=Figure(4.8e12, "4.8TB/s", "h200-datasheet"),
         fp32=_t(60, "60 TFLOPS", "h200-datasheet"),
         fp16=_derived_fp16(60, "hopper-whitepaper"),
         fp16_tensor=_sparse(1671, "1,671 TFLOPS (with sparsity)", "h200-datasheet"),
         bf16_tensor=_sparse(1671, "1,671 TFLOPS (with sparsity)", "h200-datasheet"),
         tf32_tensor=_sparse(835, "835 TFLOPS (with sparsity)", "h200-datasheet")),
    Peak("H200 SXM", r"\bH200\b",
         memory_bw=Figure(4.8e12, "4.8TB/s", "h200-datasheet"),
         fp32=_t(67, "67 TFLOPS", "h200-datasheet"),
         fp16=_derived_fp16(67, "hopper-whitepaper"),
         fp16_tensor=_sparse(1979, "1,979 TFLOPS (with sparsity)", "h200-datasheet"),
         bf16_tensor=_sparse(1979, "1,979 TFLOPS (with sparsity)", "h200-datasheet"),
         tf32_tensor=_sparse(989, "989 TFLOPS (with sparsity)", "h200-datasheet")),
    Peak("H100 NVL", r"\bH100 NVL\b",
         memory_bw=Figure(3.9e12, "3.9TB/s", "h100-datasheet"),
         fp32=_t(60, "60 teraFLOPS", "h100-datasheet"),
         fp16=_derived_fp16(60, "hopper-whitepaper"),
         fp16_tensor=_sparse(1671, "1,671 teraFLOPS*", "h100-datasheet"),
         bf16_tensor=_sparse(1671, "1,671 teraFLOPS*", "h100-datasheet"),
         tf32_tensor=_sparse(835, "835 teraFLOPS*", "h100-datasheet")),
    Peak("H100 PCIe", r"\bH100 PCIe\b",
         memory_bw=Figure(2.0e12, "2TB/s", "h100-datasheet"),
         fp32=_t(51, "51 teraFLOPS", "h100-datasheet"),
         fp16=_t(102.4, "102.4 (H100 PCIe column)", "hopper-whitepaper"),
         fp16_tensor=_sparse(1513, "1,513 teraFLOPS*", "h100-datasheet"),
         bf16_tensor=_sparse(1513, "1,513 teraFLOPS*", "h100-datasheet"),
         tf32_tensor=_sparse(756, "756 teraFLOPS*", "h100-datasheet")),
    Peak("H100 SXM", r"\bH100\b.*\b(SXM\w*|HBM3)\b",           # "NVIDIA H100 80GB HBM3"
         memory_bw=Figure(3.35e12, "3.35TB/s", "h100-datasheet"),
         fp32=_t(67, "67 teraFLOPS", "h100-datasheet"),
         fp16=_t(133.8, "133.8 (H100 SXM5 column)", "hopper-whitepaper"),
         fp16_tensor=_sparse(1979, "1,979 teraFLOPS*", "h100-datasheet"),
         bf16_tensor=_sparse(1979, "1,979 teraFLOPS*", "h100-datasheet"),
         tf32_tensor=_sparse(989, "989 teraFLOPS*", "h100-datasheet")),
    Peak("A100 SXM 80GB", r"\bA100[- ]SXM\d?[- ]80GB\b",          # "NVIDIA A100-SXM4-80GB"
         memory_bw=Figure(2.039e12, "2,039GB/s", "a100-datasheet"),
         fp32=_t(19.5, "19.5 TFLOPS", "a100-datasheet"),
         fp16=_t(78, "78 TFLOPS", "ampere-whitepaper"),
         fp16_tensor=_t(312, "312 TFLOPS | 624 TFLOPS*", "a100-datasheet", "dense figure as printed"),
         bf16_tensor=_t(312, "312 TFLOPS | 624 TFLOPS*", "a100-datasheet", "dense figure as printed"),
         tf32_tensor=_t(156, "156 TFLOPS | 312 TFLOPS*", "a100-datasheet", "dense figure as printed")),
    Peak("A100 PCIe 80GB", r"\bA100 80GB PCIe\b",                 # "NVIDIA A100 80GB PCIe"
         memory_bw=Figure(1.935e12, "1,935GB/s", "a100-datasheet"),
         fp32=_t(19.5, "19.5 TFLOPS", "a100-datasheet"),
         fp16=_t(78, "78 TFLOPS", "ampere-whitepaper"),
         fp16_tensor=_t(312, "312 TFLOPS | 624 TFLOPS*", "a100-datasheet", "dense figure as printed"),
         bf16_tensor=_t(312, "312 TFLOPS | 624 TFLOPS*", "a100-datasheet", "dense figure as printed"),
         tf32_tensor=_t(156, "156 TFLOPS | 312 TFLOPS*", "a100-datasheet", "dense figure as printed")),
    Peak("L4", r"\bL4\b",                                          # "NVIDIA L4" (not L40, L40S)
         memory_bw=Figure(300e9, "300GB/s", "l4-datasheet"),
         fp32=_t(30.3, "30.3 teraFLOPs", "l4-datasheet"),
         fp16=None,
         fp16_tensor=_sparse(242, "242 teraFLOPS*", "l4-datasheet"),
         bf16_tensor=_sparse(242, "242 teraFLOPS*", "l4-datasheet"),
         tf32_tensor=_sparse(120, "120 teraFLOPS*", "l4-datasheet")),
)

BY_MODEL = {p.model: p for p in PEAKS}


def lookup(device_name: str | None) -> Peak | None:
    """The entry for the device name TVM reports, or None for an unknown (or absent) card."""
    if not device_name:
        return None
    name = " ".join(device_name.split())
    for peak in PEAKS:
        if re.search(peak.pattern, name, flags=re.IGNORECASE):
            return peak
    return None
