"""Device and precision selection for inference.

Kept apart from the engine so that the CLI, the predictor and the dataset runners accept the
same names (`auto|cpu|cuda|mps`, `fp32|bf16|fp16`) and fail with the same one-line errors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from gsfm.errors import GSFMError
from gsfm.inference.config import DEVICES, PRECISIONS
from gsfm.machine import cpu_flags

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# /proc/cpuinfo flags of a CPU that multiplies bf16 natively (AVX-512-BF16 dot products, AMX
# tiles). Without them oneDNN emulates bf16, which was ~15x slower than fp32 on an AVX2 EPYC.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# The engine's stages that run in bf16 under "auto": the three networks' convolutions, 1.6-2x
# faster in bf16 on an AVX-512-BF16 EPYC at 640x480 (key encoder 82 -> 42 ms, decoder 121 ->
# 77 ms, value encoder 105 -> 60 ms, one thread). What is not a convolution stays fp32: the
# spectral modules' FFTs, the memory (keys and values are stored in fp32) and the memory read
# (affinity, top-k, readout), so the top-k ranks fp32 scores of the bf16-computed keys.
NETWORK_STAGES = ("encode_key", "decode", "encode_value")
AUTO_BF16_STAGES = NETWORK_STAGES


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA, then MPS, then CPU; an explicit accelerator must exist.

    Asking for cuda/mps on a machine without one is a user error (GSFMError), not a silent
    fallback: a benchmark run on the wrong device would be misleading.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = name.strip().lower()
    kind = text.split(":", 1)[0]
    if kind not in DEVICES:
        raise GSFMError(f"unknown device {name!r}; choose from {', '.join(DEVICES)}")
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise GSFMError(
            "device 'cuda' was asked for but CUDA is not available (no NVIDIA GPU or a "
            "CPU-only PyTorch build); use --device cpu or auto"
        )
    if kind == "mps" and not mps_available():
        raise GSFMError("device 'mps' was asked for but Apple MPS is not available; use cpu")
    return torch.device(text)


def check_precision(precision: str, device: torch.device) -> str:
    """Validate a precision name for a device; fp16 autocast is CUDA-only (CPU fp16 is slow
    and numerically fragile), bf16 is allowed on CPU for AMX-capable processors."""
    if precision not in PRECISIONS:
        raise GSFMError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision == "auto":
        return precision
    if precision == "fp16" and device.type != "cuda":
        raise GSFMError(f"fp16 needs a CUDA device (got {device.type}); use bf16 or fp32")
    if precision == "bf16" and device.type == "mps":
        raise GSFMError("bf16 autocast is not supported on MPS here; use fp32")
    return precision


def native_bf16(device: torch.device, flags: frozenset[str] | None = None) -> bool:
    """Whether `device` multiplies bf16 natively: a CPU with AVX-512-BF16 or AMX. Other
    devices answer False: "auto" was measured on CPUs only, so it keeps fp32 there."""
    if device.type != "cpu":
        return False
    return bool((cpu_flags() if flags is None else flags) & BF16_CPU_FLAGS)


def stage_precisions(
    precision: str, device: torch.device, flags: frozenset[str] | None = None
) -> dict[str, str]:
    """The precision of each network stage (NETWORK_STAGES) for a precision setting: one
    for all, or for "auto" bf16 in AUTO_BF16_STAGES where `native_bf16`, else fp32."""
    check_precision(precision, device)
    if precision != "auto":
        return dict.fromkeys(NETWORK_STAGES, precision)
    fast = "bf16" if native_bf16(device, flags) else "fp32"
    return {name: fast if name in AUTO_BF16_STAGES else "fp32" for name in NETWORK_STAGES}


@contextlib.contextmanager
def autocast_context(device: torch.device | str, precision: str = "fp32") -> Iterator[None]:
    """Autocast to bf16/fp16 for the network's convolutions and matmuls; fp32 does nothing
    ("auto" is per stage: see `stage_precisions`)."""
    device = torch.device(device)
    check_precision(precision, device)
    if precision == "auto":
        raise ValueError("precision 'auto' is resolved per stage (stage_precisions)")
    if precision == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=DTYPES[precision]):
        yield
