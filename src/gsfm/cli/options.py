"""Options that several verbs share, generated from the config dataclasses so that a flag's
name, type, default, choices and range check have one source: `EngineConfig` for the
engine's settings (segment, infer, demo), the device names for --device; and `--backend` /
`--onnx` with the one function that builds the predictor they ask for."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gsfm.arguments import Number
from gsfm.errors import InputError, OptionError, WeightsError
from gsfm.export.manifest import read_manifest
from gsfm.extras import require
from gsfm.inference.config import (
    DEVICES,
    LONG_INPUT_CAP,
    LONG_INPUT_FRAMES,
    EngineConfig,
    long_input_options,
)

_ENGINE_FIELDS: dict[str, Field[Any]] = {
    f.name: f for f in fields(EngineConfig) if f.metadata.get("cli", True)
}

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor


# `add_engine_options(p, names, **INTERACTIVE)`: the defaults of the verbs that segment a
# user's video (segment, serve): --max-memory-frames and --memory whose defaults (None) follow
# the run's length (`inference.config.long_input_options`; with `add_presence_option` for
# --presence), and --precision auto (the networks in bf16 on a CPU with native bf16,
# `inference.device.stage_precisions`). The dataset runs (infer) keep the paper's settings.
INTERACTIVE: dict[str, dict[str, Any]] = {
    "defaults": {"max_memory_frames": None, "memory": None, "precision": "auto"},
    "helps": {
        "max_memory_frames": "cap the memory at N frames; 0 = unbounded (default: unbounded, "
        f"or {LONG_INPUT_CAP} for runs over {LONG_INPUT_FRAMES} frames)",
        "memory": "plain: every memory frame, or the most recent within the cap (the "
        "original's); long-term: given masks, recent frames and prototypes kept by use, within "
        f"the cap (default: long-term for runs over {LONG_INPUT_FRAMES} frames, else plain)",
        "precision": "auto = the networks in bf16 on a CPU with native bf16 (AVX-512-BF16 or "
        "AMX), fp32 elsewhere; the memory read is fp32 always (default: auto)",
    },
}
PRESENCE_CHOICES = {"auto": None, "on": True, "off": False}


def add_presence_option(p: argparse.ArgumentParser, automatic: bool = True) -> None:
    """--presence: the presence test (`inference.presence`); auto|on|off (default auto: on
    for long runs) where `automatic`, else on|off (default off)."""
    auto = f"auto: on for runs over {LONG_INPUT_FRAMES} frames with the long-term memory; "
    p.add_argument(
        "--presence",
        choices=tuple(PRESENCE_CHOICES) if automatic else ("on", "off"),
        default="auto" if automatic else "off",
        help="leave an object empty while the memory read says it is not in the frame, and "
        "find it again when it returns (needs --memory long-term"
        + (f"; {auto}" if automatic else "; ")
        + f"default: {'auto' if automatic else 'off'})",
    )


def run_options(args: argparse.Namespace, frames: int) -> dict[str, Any]:
    """The memory settings (cap, memory, presence) of a segment/serve run over `frames`
    frames, from --max-memory-frames, --memory and --presence."""
    return long_input_options(
        args.max_memory_frames,
        args.memory,
        PRESENCE_CHOICES[getattr(args, "presence", "auto")],
        frames,
    )


def flag(name: str) -> str:
    """A config field's command-line flag: top_k -> --top-k."""
    return "--" + name.replace("_", "-")


def add_engine_options(
    p: argparse.ArgumentParser,
    names: tuple[str, ...] = tuple(_ENGINE_FIELDS),
    *,
    defaults: dict[str, Any] | None = None,
    helps: dict[str, str] | None = None,
) -> None:
    """One --flag per `EngineConfig` field in `names`, default and help from the field
    (`defaults` / `helps` replace them where a verb differs, e.g. per-dataset defaults)."""
    defaults, helps = defaults or {}, helps or {}
    for name in names:
        f = _ENGINE_FIELDS[name]
        default = defaults.get(name, f.default)
        if default is None and f.metadata.get("zero_is_none") and name not in defaults:
            default = 0
        assert default is not MISSING
        choices = f.metadata.get("choices")
        text = helps.get(name) or f.metadata.get("help", "")
        if name not in helps:
            shown = default if default is not None else "-"
            text = f"{text} (default: {shown})".lstrip()
        p.add_argument(
            flag(name),
            type=str if choices else Number(int),  # ranges: EngineConfig
            choices=choices,
            default=default,
            help=text,
        )


def engine_config(args: argparse.Namespace, **values: Any) -> EngineConfig:
    """The EngineConfig of the parsed engine options (a flag's 0 -> None where it stands for
    None), `values` replacing them; an out-of-range value is a one-line error about its flag."""
    given = {name: getattr(args, name) for name in _ENGINE_FIELDS if hasattr(args, name)}
    # a flag left to follow the run (None, e.g. --memory under INTERACTIVE) is the field's
    # default until the run decides (`run_options`)
    given = {k: v for k, v in given.items() if v is not None or _ENGINE_FIELDS[k].default is None}
    for name, value in given.items():
        if value == 0 and _ENGINE_FIELDS[name].metadata.get("zero_is_none"):
            given[name] = None
    given.update(values)
    try:
        return EngineConfig(**given)
    except OptionError as err:
        raise err.as_flag(bool(_ENGINE_FIELDS[err.option].metadata.get("zero_is_none"))) from None


def add_device_option(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """--device: one of DEVICES, or an indexed one such as cuda:1."""
    names = ", ".join(DEVICES[:-1]) + f" or {DEVICES[-1]}"
    p.add_argument("--device", default=default, help=f"{names} (default: {default or 'auto'})")


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
        require("onnx", "--backend onnxruntime")
        read_manifest(folder, verify=False)
    elif folder is not None:
        raise InputError("--onnx DIR is used with --backend onnxruntime only")


def backend_settings(args: argparse.Namespace) -> dict[str, Any]:
    """What a run records about its backend (nothing for the default torch backend)."""
    if getattr(args, "backend", "torch") == "torch":
        return {}
    return {"backend": args.backend, "onnx": str(args.onnx)}


def weights_digest(args: argparse.Namespace) -> str | None:
    """The sha256 of what the run's network is loaded from: the --weights file (a bundled
    name's file), or the --onnx folder's manifest once its graphs match it; None for
    `random:` weights. A path names a file, this names its content."""
    from gsfm.digest import sha256_file

    if getattr(args, "backend", "torch") == "onnxruntime":
        from gsfm.export.manifest import folder_digest

        return folder_digest(args.onnx)
    from gsfm.model.weights import weights_file

    path = weights_file(args.weights)  # WeightsError: missing
    if path is None:
        return None
    try:
        return sha256_file(path)
    except OSError as err:
        raise WeightsError(f"cannot read weights file {path}: {err.strerror or err}") from None


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
