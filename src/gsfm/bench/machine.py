"""What the benchmark ran on: numbers mean little without the machine beside them."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from gsfm.machine import cpu_model, usable_cores


def describe_machine() -> dict[str, Any]:
    """CPU, cores, torch build and threads, and the GPU when CUDA is there."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "logical_cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gpu": None,
    }
    if torch.cuda.is_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info["gpu"] = torch.cuda.get_device_name(index)
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
        # TF32 changes what "fp32" means on Ampere and later; record both switches.
        info["cuda_matmul_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        info["cudnn_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    return info


def machine_line(info: dict[str, Any]) -> str:
    """One line naming the machine, for the head of a printed table."""
    text = (
        f"{info['cpu']}, {info['cores']} cores, torch {info['torch']} "
        f"({info['torch_threads']} thread{'s' * (info['torch_threads'] != 1)})"
    )
    if info.get("gpu"):
        text += f"; GPU {info['gpu']} ({info.get('gpu_memory_gib', '?')} GiB, CUDA {info['cuda']})"
    return text
