"""The training options, generated from `TrainConfig`: one --flag per field (a new field gets
its flag without an edit here), mapped back to the config in one place.

Shared by `gsfm train` and `python -m gsfm.train` (what torchrun runs), so neither imports
the other's entry point.
"""

from __future__ import annotations

import argparse
import logging
import types
import typing
from dataclasses import MISSING, fields, replace
from pathlib import Path
from typing import Any

from gsfm.arguments import Number
from gsfm.errors import InputError
from gsfm.extras import require
from gsfm.inference.config import DEVICES
from gsfm.train.config import RECIPE_SETTINGS, RECIPES, TrainConfig

log = logging.getLogger(__name__)

# Fields a run may change when it resumes; every other field is the recipe, which then comes
# from the checkpoint.
RUNTIME = ("run_id", "save_every", "log_every", "saves", "workers", "threads", "device")
RUNTIME += ("tensorboard", "save_all_ranks")
# Fields with no flag (not expressible as one).
NO_FLAG = ("curriculum",)

# What a flag says beyond its field's name, type and default.
FLAGS: dict[str, dict[str, Any]] = {
    "stage": {"choices": tuple(RECIPES), "help": "0: static images, 3: videos"},
    "run_id": {"flag": "--id", "help": "run name: saves go to SAVES/ID/"},
    "variant": {"choices": ("gsfm", "gsfm-tiny"), "help": "network (default: gsfm)"},
    "data": {
        "metavar": "ROOT",
        "help": "training data, repeatable: 'synthetic' (procedural, the default) or a folder: "
        "stage 0 NAME.jpg + NAME.png pairs, stage 3 DAVIS 2017 / YouTube-VOS train layouts",
    },
    "load_network": {"metavar": "W", "help": "start from these weights (file or bundled name)"},
    "iterations": {
        "help": "training length (default: 40000 / 30000); milestones, warm-up and curriculum "
        "scale with it"
    },
    "batch_size": {"help": "per process (default: 16 / 8)"},
    "lr": {"help": "learning rate (default: 4e-5)"},
    "size": {"help": "square crop side, multiple of 16 (default: 384)"},
    "milestones": {"help": "LR decay iterations (x0.1)"},
    "start_warm": {"help": "bootstrapped-CE warm-up start"},
    "end_warm": {"help": "bootstrapped-CE warm-up end"},
    "objects": {
        "choices": (1, 2),
        "help": "objects per sample (default: 1 in stage 0 = single-object network, 2 in stage 3)",
    },
    "recipe": {
        "choices": tuple(RECIPE_SETTINGS),
        "help": "named settings: 'paper' (default; the original's recipe: no image pasting, AMP "
        "on CUDA) or 'procedural' (the CPU recipe of the bundled model: stage-0 pasting p 0.5, "
        "fp32)",
    },
    "merge_prob": {
        "help": "stage 0: chance of pasting a second image's object (not in the original; "
        "default 0 in the paper recipe, 0.5 in the procedural one)"
    },
    "yv_subset": {
        "metavar": "TXT",
        "help": "stage 3: train only on the YouTube-VOS videos this list names (one per line, "
        "e.g. the original's util/yv_subset.txt)",
    },
    "hard_mix": {
        "help": "share of samples from the hard procedural generator (figures, thin and holed "
        "shapes, camera motion, blur, look-alikes, occluders) with --data synthetic (default: 0)"
    },
    "amp": {"help": "mixed precision with GradScaler on CUDA (default: on in the paper recipe)"},
    "freeze_bn": {
        "help": "keep BatchNorm statistics fixed (default: frozen when starting from pretrained "
        "weights, updated when training from scratch)"
    },
    "imagenet_r50": {"metavar": "PTH", "help": "torchvision ResNet-50 ImageNet weights"},
    "imagenet_r18": {"metavar": "PTH", "help": "torchvision ResNet-18 ImageNet weights"},
    "save_every": {"help": "iterations between saves (default: 5000)"},
    "log_every": {"help": "iterations between log lines (default: 100)"},
    "saves": {"help": "folder of run folders (default: saves)"},
    "workers": {"help": "data loader processes (default: 0 CPU, 4 CUDA)"},
    "threads": {
        "help": "CPU compute threads per process (default: all cores; 1 is much faster when "
        "other jobs share the cores)"
    },
    "seed": {"help": "seed of the network init and the data stream"},
    "device": {"choices": DEVICES, "help": "default: auto"},
    "tensorboard": {"help": "TensorBoard logs (default: on)"},
    "save_all_ranks": {"help": argparse.SUPPRESS},
}


def _typed(kind: Any) -> Any:
    """The argparse type of a field type: numbers parse as `Number` (finite; the ranges are
    `TrainConfig.validate`'s), anything else as itself."""
    return Number(kind) if kind in (int, float) else kind


def _flag_kwargs(name: str, kind: Any, default: Any) -> dict[str, Any]:
    """argparse keywords for a field of type `kind` (Optional unwrapped)."""
    extra = dict(FLAGS.get(name, {}))
    extra.pop("flag", None)
    args = typing.get_args(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kind = next(a for a in args if a is not type(None))
        args = typing.get_args(kind)
    kw: dict[str, Any] = {"dest": name, "default": None}
    if kind is bool:
        kw["action"] = argparse.BooleanOptionalAction
    elif typing.get_origin(kind) is tuple:
        item = args[0]
        if item is str:  # repeat the flag, one value each
            kw.update(action="append", type=str)
        else:  # one flag, several values
            kw.update(nargs="+", type=_typed(item))
    else:
        kw["type"] = _typed(kind)
    kw.setdefault("help", f"(default: {default})")
    kw.update(extra)
    return kw


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (--load-model, which resumes, is not a field)."""
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        if f.name in NO_FLAG:
            continue
        default = f.default if f.default is not MISSING else None
        flag = FLAGS.get(f.name, {}).get("flag", "--" + f.name.replace("_", "-"))
        p.add_argument(flag, **_flag_kwargs(f.name, hints[f.name], default))
    p.add_argument(
        "--load-model", metavar="CKPT", type=Path, help="resume exactly from NAME_checkpoint.pth"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="start over in a run folder that holds an earlier run (its checkpoint and weights "
        "are deleted); without it such an --id is refused: resume it with --load-model",
    )


def given_options(args: argparse.Namespace) -> dict[str, Any]:
    """The TrainConfig fields set on the command line (unset flags are None)."""
    return {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }


def _differs(given: object, saved: object) -> bool:
    """Whether a command-line value differs from the checkpoint's (lists vs tuples aside)."""
    if isinstance(given, list):
        given = tuple(given)
    return given != saved


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any] | None]:
    """A TrainConfig (and the checkpoint to resume, if any) from parsed options."""
    given = given_options(args)
    if args.load_model is not None:
        from gsfm.train.checkpoint import load_checkpoint  # torch: only when resuming

        payload = load_checkpoint(args.load_model)
        saved = TrainConfig.from_dict(payload["config"])
        recipe = {k: v for k, v in given.items() if k not in RUNTIME and v is not False}
        ignored = [k for k, v in recipe.items() if _differs(v, getattr(saved, k, None))]
        if ignored:
            log.warning(
                "resuming: the recipe comes from the checkpoint; ignoring %s",
                ", ".join("--" + k.replace("_", "-") for k in ignored),
            )
        cfg = replace(saved, **{k: v for k, v in given.items() if k in RUNTIME})
        cfg.validate()
        return cfg, payload
    stage = given.pop("stage", None)
    if stage is None:
        raise InputError("--stage is required (0 or 3), unless resuming with --load-model")
    run_id = given.pop("run_id", None) or f"stage{stage}"
    iterations = given.pop("iterations", None)
    if "freeze_bn" not in given:
        pretrained = any(given.get(k) for k in ("imagenet_r50", "imagenet_r18", "load_network"))
        given["freeze_bn"] = pretrained
    if "workers" not in given:
        import torch  # only to pick the default

        given["workers"] = 4 if (given.get("device") != "cpu" and torch.cuda.is_available()) else 0
    return TrainConfig.for_stage(stage, run_id, iterations, **given), None


def run(args: argparse.Namespace) -> int:
    """Train (or resume); errors propagate as GSFMError."""
    require("train", "gsfm train")
    from gsfm.train.run_folder import owned_run_folder
    from gsfm.train.trainer import train  # needs the [train] extra

    cfg, payload = config_from_args(args)
    resume_from, overwrite = args.load_model, getattr(args, "overwrite", False)
    with owned_run_folder(cfg.saves, cfg.run_id, resume_from=resume_from, overwrite=overwrite):
        folder = train(cfg, resume=payload)
    log.info("done: %s", folder)
    return 0
