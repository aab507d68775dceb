"""`gsfm train`: the two-stage GSFM training (stage 0 static images, stage 3 videos).

Also `python -m gsfm.train` (same options), which is what `torchrun --nproc_per_node=N -m
gsfm.train ...` runs for multi-process training.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from gsfm.errors import InputError

log = logging.getLogger(__name__)

# Options that describe the recipe: on resume they come from the checkpoint.
RECIPE_OPTIONS = (
    "stage",
    "variant",
    "iterations",
    "batch_size",
    "lr",
    "size",
    "data",
    "objects",
    "milestones",
    "start_warm",
    "end_warm",
    "seed",
    "freeze_bn",
    "load_network",
    "imagenet_r50",
    "imagenet_r18",
    "amp",
    "recipe",
    "merge_prob",
    "yv_subset",
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The training options (shared by `gsfm train` and `python -m gsfm.train`)."""
    p.add_argument("--stage", type=int, choices=(0, 3), help="0: static images, 3: videos")
    p.add_argument("--id", dest="run_id", help="run name: saves go to SAVES/ID/")
    p.add_argument("--variant", choices=("gsfm", "gsfm-tiny"), help="network (default: gsfm)")
    p.add_argument(
        "--recipe",
        choices=("paper", "procedural"),
        help="named settings: 'paper' (default; the original's recipe: no image pasting, AMP on "
        "CUDA) or 'procedural' (the CPU recipe of the bundled model: stage-0 pasting p 0.5, "
        "fp32)",
    )
    p.add_argument(
        "--merge-prob",
        type=float,
        help="stage 0: chance of pasting a second image's object (not in the original; "
        "default 0 in the paper recipe, 0.5 in the procedural one)",
    )
    p.add_argument(
        "--yv-subset",
        metavar="TXT",
        help="stage 3: train only on the YouTube-VOS videos this list names (one per line, "
        "e.g. the original's util/yv_subset.txt)",
    )
    p.add_argument(
        "--data",
        action="append",
        metavar="ROOT",
        help="training data, repeatable: 'synthetic' (procedural, the default) or a folder: "
        "stage 0 NAME.jpg + NAME.png pairs, stage 3 DAVIS 2017 / YouTube-VOS train layouts",
    )
    p.add_argument(
        "--load-network", metavar="W", help="start from these weights (file or bundled name)"
    )
    p.add_argument(
        "--load-model", metavar="CKPT", type=Path, help="resume exactly from NAME_checkpoint.pth"
    )
    p.add_argument(
        "--iterations",
        type=int,
        help="training length (default: 40000 / 30000); milestones, warm-up and curriculum "
        "scale with it",
    )
    p.add_argument("--batch-size", type=int, help="per process (default: 16 / 8)")
    p.add_argument("--lr", type=float, help="learning rate (default: 4e-5)")
    p.add_argument("--size", type=int, help="square crop side, multiple of 16 (default: 384)")
    p.add_argument("--milestones", type=int, nargs="+", help="LR decay iterations (x0.1)")
    p.add_argument("--start-warm", type=int, help="bootstrapped-CE warm-up start")
    p.add_argument("--end-warm", type=int, help="bootstrapped-CE warm-up end")
    p.add_argument(
        "--objects",
        type=int,
        choices=(1, 2),
        help="objects per sample (default: 1 in stage 0 = single-object network, 2 in stage 3)",
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed precision with GradScaler on CUDA (default: on in the paper recipe)",
    )
    p.add_argument(
        "--freeze-bn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="keep BatchNorm statistics fixed (default: frozen when starting from pretrained "
        "weights, updated when training from scratch)",
    )
    p.add_argument("--imagenet-r50", metavar="PTH", help="torchvision ResNet-50 ImageNet weights")
    p.add_argument("--imagenet-r18", metavar="PTH", help="torchvision ResNet-18 ImageNet weights")
    p.add_argument("--save-every", type=int, help="iterations between saves (default: 5000)")
    p.add_argument("--log-every", type=int, help="iterations between log lines (default: 100)")
    p.add_argument("--saves", help="folder of run folders (default: saves)")
    p.add_argument("--workers", type=int, help="data loader processes (default: 0 CPU, 4 CUDA)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU compute threads per process (default: all cores; 1 is much faster when "
        "other jobs share the cores)",
    )
    p.add_argument("--seed", type=int, help="seed of the network init and the data stream")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: auto")
    p.add_argument(
        "--no-tensorboard",
        dest="tensorboard",
        action="store_false",
        default=None,
        help="no TensorBoard logs",
    )
    p.add_argument("--save-all-ranks", action="store_true", default=None, help=argparse.SUPPRESS)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `gsfm train` on the dispatcher's subparsers."""
    p = sub.add_parser(
        "train",
        help="train GSFM (stage 0 static images, stage 3 videos)",
        description=(
            "Train GSFM. Stage 0 trains the single-object network on static images (procedural "
            "ones by default, no download needed); stage 3 trains the multi-object network on "
            "DAVIS 2017 + YouTube-VOS (or procedural clips with --data synthetic), usually "
            "from stage-0 weights (--load-network). Saves in SAVES/ID/: ID_<it>.safetensors "
            "and ID_checkpoint.pth (resume with --load-model). Multi-process: torchrun "
            "--nproc_per_node=N -m gsfm.train ..."
        ),
    )
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def _differs(given: object, saved: object) -> bool:
    """Whether a command-line value differs from the checkpoint's (lists vs tuples aside)."""
    if isinstance(given, list):
        given = tuple(given)
    return given != saved


def config_from_args(args: argparse.Namespace):
    """A TrainConfig (and the checkpoint to resume, if any) from parsed options."""
    from gsfm.train.checkpoint import load_checkpoint
    from gsfm.train.config import TrainConfig

    runtime = {
        k: getattr(args, k, None)
        for k in ("save_every", "log_every", "saves", "workers", "threads", "device", "tensorboard")
    }
    runtime["save_all_ranks"] = getattr(args, "save_all_ranks", None)
    if args.load_model is not None:
        payload = load_checkpoint(args.load_model)
        saved = TrainConfig.from_dict(payload["config"])
        ignored = [k for k in RECIPE_OPTIONS if getattr(args, k, None) not in (None, False)]
        ignored = [k for k in ignored if _differs(getattr(args, k), getattr(saved, k, None))]
        if ignored:
            log.warning(
                "resuming: the recipe comes from the checkpoint; ignoring %s",
                ", ".join("--" + k.replace("_", "-") for k in ignored),
            )
        changes = {k: v for k, v in runtime.items() if v is not None}
        if args.run_id:
            changes["run_id"] = args.run_id
        from dataclasses import replace

        cfg = replace(saved, **changes)
        cfg.validate()
        return cfg, payload
    if args.stage is None:
        raise InputError("--stage is required (0 or 3), unless resuming with --load-model")
    run_id = args.run_id or f"stage{args.stage}"
    pretrained = bool(args.imagenet_r50 or args.imagenet_r18 or args.load_network)
    freeze_bn = args.freeze_bn if args.freeze_bn is not None else pretrained
    workers = args.workers
    if workers is None:
        import torch

        workers = 4 if (args.device != "cpu" and torch.cuda.is_available()) else 0
    overrides = {
        "variant": args.variant,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "size": args.size,
        "data": args.data,
        "objects": args.objects,
        "milestones": args.milestones,
        "start_warm": args.start_warm,
        "end_warm": args.end_warm,
        "amp": args.amp,
        "freeze_bn": freeze_bn,
        "imagenet_r50": args.imagenet_r50,
        "imagenet_r18": args.imagenet_r18,
        "load_network": args.load_network,
        "seed": args.seed,
        **runtime,
        "workers": workers,
    }
    overrides["merge_prob"] = getattr(args, "merge_prob", None)
    overrides["yv_subset"] = getattr(args, "yv_subset", None)
    cfg = TrainConfig.for_stage(
        args.stage, run_id, args.iterations, recipe=getattr(args, "recipe", None), **overrides
    )
    return cfg, None


def run(args: argparse.Namespace) -> int:
    """Train (or resume); errors propagate as GSFMError."""
    from gsfm.train.trainer import train

    cfg, payload = config_from_args(args)
    folder = train(cfg, resume=payload)
    log.info("done: %s", folder)
    return 0
