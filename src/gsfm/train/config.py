"""Training configuration: one dataclass, per-stage defaults from the GSFM recipe.

The recipe's numbers (the original's schedule: 40k iterations of static images at batch 16,
then 30k of videos at batch 8, LR 4e-5) are defaults for a full-length run. When the number of
iterations differs, the LR milestones and the bootstrapping warm-up scale proportionally (a
run of 4,000 iterations in stage 0 decays at 2,000 and warms from 300 to 1,000), and the
max-skip curriculum is defined as fractions of the run, so a short run follows the same recipe
compressed in time. Explicit milestones / warm-up values are kept as given.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from gsfm.errors import InputError

SYNTHETIC = "synthetic"  # --data value: procedural data generated on the fly

# Max-skip curriculum of stage 3: (fraction of the run at which it starts, max skip).
CURRICULUM: tuple[tuple[float, int], ...] = (
    (0.0, 5),
    (0.1, 10),
    (0.2, 15),
    (0.3, 20),
    (0.4, 25),
    (0.9, 5),
)


@dataclass(frozen=True)
class StageRecipe:
    """The original recipe of one stage at its original length."""

    iterations: int
    batch_size: int
    lr: float
    milestones: tuple[int, ...]
    start_warm: int
    end_warm: int


RECIPES: dict[int, StageRecipe] = {
    0: StageRecipe(40_000, 16, 4e-5, (20_000,), 3_000, 10_000),
    3: StageRecipe(30_000, 8, 4e-5, (25_000,), 3_000, 15_000),
}

# Named recipes (--recipe): the settings that differ between the original's recipe ("paper",
# the default) and the procedural CPU recipe the bundled model was trained with. Losses,
# sampling and augmentation rules are the same in both.
PAPER = "paper"
PROCEDURAL = "procedural"
RECIPE_SETTINGS: dict[str, dict[str, Any]] = {
    PAPER: {"merge_prob": 0.0, "amp": True},
    PROCEDURAL: {"merge_prob": 0.5, "amp": False},
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved in its checkpoint)."""

    stage: int
    run_id: str
    variant: str = "gsfm"
    iterations: int = 40_000
    batch_size: int = 16
    lr: float = 4e-5
    weight_decay: float = 1e-7
    milestones: tuple[int, ...] = (20_000,)
    gamma: float = 0.1
    start_warm: int = 3_000
    end_warm: int = 10_000
    top_p: float = 0.15  # fraction of the hardest pixels kept after end_warm
    boundary_weight: float = 0.05
    size: int = 384  # square crop side, a multiple of 16
    num_frames: int = 3
    objects: int = 1  # objects per sample: 1 = single-object network (stage 0), 2 = stage 3
    recipe: str = PAPER  # named settings (RECIPE_SETTINGS): "paper" or "procedural"
    merge_prob: float = 0.0  # stage 0: chance of pasting a second image (not in the original)
    data: tuple[str, ...] = (SYNTHETIC,)
    # Share of the `synthetic` samples drawn from the hard generator (gsfm.synthetic.hard:
    # figures, thin/holed shapes, camera motion, blur, occluders); 0 = the plain one only.
    hard_mix: float = 0.0
    davis_repeat: int = 5
    yv_subset: str | None = None  # YouTube-VOS video-name list (the original's yv_subset.txt)
    amp: bool = True  # mixed precision + GradScaler (CUDA only; fp32 elsewhere)
    freeze_bn: bool = False
    imagenet_r50: str | None = None
    imagenet_r18: str | None = None
    load_network: str | None = None
    seed: int = 42
    save_every: int = 5_000
    log_every: int = 100
    workers: int = 0
    threads: int = 0  # torch compute threads per process (0: torch's default)
    saves: str = "saves"
    device: str = "auto"
    tensorboard: bool = True
    save_all_ranks: bool = False  # testing aid: every DDP rank writes its final weights
    curriculum: tuple[tuple[float, int], ...] = field(default=CURRICULUM)

    @classmethod
    def for_stage(
        cls,
        stage: int,
        run_id: str,
        iterations: int | None = None,
        recipe: str | None = None,
        **overrides: Any,
    ) -> TrainConfig:
        """Stage defaults, scaled to `iterations`, then the named `recipe`'s settings, then
        `overrides` (None values ignored)."""
        if stage not in RECIPES:
            raise InputError(f"--stage must be one of {sorted(RECIPES)}, not {stage}")
        name = recipe or PAPER
        if name not in RECIPE_SETTINGS:
            raise InputError(f"--recipe must be one of {sorted(RECIPE_SETTINGS)}, not {name!r}")
        stage_recipe = RECIPES[stage]
        n = stage_recipe.iterations if iterations is None else int(iterations)
        if n < 1:
            raise InputError(f"--iterations must be at least 1, got {n}")
        scale = n / stage_recipe.iterations
        base = cls(
            stage=stage,
            run_id=run_id,
            iterations=n,
            batch_size=stage_recipe.batch_size,
            lr=stage_recipe.lr,
            milestones=tuple(max(1, round(m * scale)) for m in stage_recipe.milestones),
            start_warm=round(stage_recipe.start_warm * scale),
            end_warm=max(1, round(stage_recipe.end_warm * scale)),
            objects=1 if stage == 0 else 2,
            recipe=name,
            **RECIPE_SETTINGS[name],
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown TrainConfig fields: {sorted(unknown)}")
        if "milestones" in given:
            given["milestones"] = tuple(int(m) for m in given["milestones"])
        if "data" in given:
            given["data"] = tuple(str(d) for d in given["data"])
        config = replace(base, **given)
        config.validate()
        return config

    def validate(self) -> None:
        """One-line InputErrors for settings that cannot train."""
        checks = [
            (self.iterations >= 1, f"--iterations must be at least 1, got {self.iterations}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (math.isfinite(self.lr) and self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (
                math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                f"--weight-decay must be at least 0, got {self.weight_decay}",
            ),
            (
                math.isfinite(self.gamma) and self.gamma > 0,
                f"--gamma must be positive, got {self.gamma}",
            ),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
            (
                math.isfinite(self.boundary_weight) and self.boundary_weight >= 0,
                f"--boundary-weight must be at least 0, got {self.boundary_weight}",
            ),
            (self.start_warm >= 0, f"--start-warm must be at least 0, got {self.start_warm}"),
            (
                all(m >= 0 for m in self.milestones),
                f"--milestones must be iterations >= 0, got {list(self.milestones)}",
            ),
            (self.num_frames >= 2, f"--num-frames must be at least 2, got {self.num_frames}"),
            (self.davis_repeat >= 0, f"--davis-repeat must be at least 0, got {self.davis_repeat}"),
            (self.seed >= 0, f"--seed must be at least 0, got {self.seed}"),
            (self.log_every >= 1, f"--log-every must be at least 1, got {self.log_every}"),
            (self.threads >= 0, f"--threads must be at least 0, got {self.threads}"),
            (
                self.size >= 32 and self.size % 16 == 0,
                f"--size must be a multiple of 16 and at least 32, got {self.size}",
            ),
            (self.objects in (1, 2), f"objects per sample must be 1 or 2, got {self.objects}"),
            (
                0.0 <= self.merge_prob <= 1.0,
                f"--merge-prob must be in [0, 1], got {self.merge_prob}",
            ),
            (0.0 <= self.hard_mix <= 1.0, f"--hard-mix must be in [0, 1], got {self.hard_mix}"),
            (self.save_every >= 1, f"--save-every must be at least 1, got {self.save_every}"),
            (self.workers >= 0, f"--workers must be >= 0, got {self.workers}"),
            (self.end_warm >= self.start_warm, "end_warm must not come before start_warm"),
            (bool(self.run_id) and "/" not in self.run_id, f"bad --id {self.run_id!r}"),
            (bool(self.data), "no training data given"),
        ]
        for ok, message in checks:
            if not ok:
                raise InputError(message)

    @property
    def single_object(self) -> bool:
        """Stage 0 trains the single-object network (RGB + mask value input)."""
        return self.objects == 1

    def max_skip(self, iteration: int) -> int:
        """The curriculum's max skip between sampled frames at `iteration`."""
        progress = iteration / max(1, self.iterations)
        skip = self.curriculum[0][1]
        for start, value in self.curriculum:
            if progress >= start:
                skip = value
        return skip

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["milestones"] = list(self.milestones)
        d["data"] = list(self.data)
        d["curriculum"] = [list(c) for c in self.curriculum]
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        d["milestones"] = tuple(d.get("milestones", ()))
        d["data"] = tuple(d.get("data", (SYNTHETIC,)))
        # checkpoints written before named recipes: the procedural recipe's settings
        d.setdefault("recipe", PROCEDURAL)
        d.setdefault("merge_prob", RECIPE_SETTINGS[PROCEDURAL]["merge_prob"])
        d.setdefault("amp", False)
        if "curriculum" in d:
            d["curriculum"] = tuple((float(a), int(b)) for a, b in d["curriculum"])
        return cls(**d)
