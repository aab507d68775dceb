"""Options that several verbs share (`--size`; `--backend`/`--onnx` and the predictor they
build), declared and checked in one place so that `gsfm segment`, `gsfm infer` and `gsfm demo`
agree on default, help and range."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsfm.errors import InputError

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

DEFAULT_SIZE = 480  # the paper's 480p; masks are resized back to the input size
MIN_SIZE = 16  # one stride-16 cell


def add_size_option(p: argparse.ArgumentParser) -> None:
    """`--size N`: shorter side the network sees; 0 = the frames' native size."""
    p.add_argument(
        "--size",
        type=int,
        default=DEFAULT_SIZE,
        help="shorter side the network sees, masks are resized back; 0 = native "
        f"(default: {DEFAULT_SIZE})",
    )


def check_size(size: int) -> None:
    """A one-line InputError for a --size the engine would refuse."""
    if size != 0 and size < MIN_SIZE:
        raise InputError(f"--size must be 0 (native) or at least {MIN_SIZE}, got {size}")


# ----------------------------------------------------------------------------- backend

BACKENDS = ("torch", "onnxruntime")


def add_backend_options(p: argparse.ArgumentParser) -> None:
    """`--backend torch|onnxruntime` and `--onnx DIR` (a folder written by `gsfm export`)."""
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="run the networks in PyTorch (--weights) or under onnxruntime (--onnx) "
        "(default: torch)",
    )
    p.add_argument(
        "--onnx",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --backend onnxruntime: a folder written by gsfm export (--weights unused)",
    )


def check_backend(args: argparse.Namespace) -> None:
    """One-line errors for a --backend/--onnx pair that cannot work, before any loading
    (the files' sizes and hashes are checked when they load)."""
    backend, folder = getattr(args, "backend", "torch"), getattr(args, "onnx", None)
    if backend == "onnxruntime":
        if folder is None:
            raise InputError("--backend onnxruntime needs --onnx DIR (a folder of gsfm export)")
        from gsfm.export.extra import RUNTIME_MODULES, require
        from gsfm.export.manifest import read_manifest

        require(RUNTIME_MODULES, "--backend onnxruntime")
        read_manifest(folder, verify=False)
    elif folder is not None:
        raise InputError("--onnx DIR is used with --backend onnxruntime only")


def backend_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a run records about its backend (nothing for the default torch backend)."""
    if getattr(args, "backend", "torch") == "torch":
        return {}
    return {"backend": args.backend, "onnx": str(args.onnx)}


def build_predictor(args: argparse.Namespace, **options: Any) -> VideoPredictor:
    """The predictor the arguments ask for: --weights in PyTorch, or --onnx under onnxruntime.

    `options` are EngineConfig fields (top_k, mem_every, size, ...); --device picks the torch
    device and, for onnxruntime, the providers (cpu: CPU only; auto/cuda: CUDA/TensorRT first
    when onnxruntime has them).
    """
    check_backend(args)
    if getattr(args, "backend", "torch") == "onnxruntime":
        from gsfm.export.runtime import onnx_predictor

        return onnx_predictor(args.onnx, device=args.device, **options)
    from gsfm.inference.predictor import VideoPredictor

    return VideoPredictor.from_weights(args.weights, device=args.device, **options)
