"""Long-video benchmark (`gsfm bench --long`): J&F per part, absent frames left empty, speed
and peak memory of the engine's memory settings on the long procedural set.

Each row is one engine setting (memory kind, budget, presence test) run over the long videos
(`gsfm.synthetic.long`, seeds `LONG_SEEDS`), rendered a chunk at a time, segmented through
`track` with only the first frame's mask, and scored a chunk at a time
(`gsfm.evaluation.parts`): nothing holds a whole video. frames/s counts the engine's time
only (rendering and scoring excluded); peak memory is the row's process peak RSS (each row
in a fresh process, as the pipeline benchmark does), so a flat memory shows as the same peak
at 1,000 and 5,000 frames.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from gsfm.bench.pipeline import (
    current_rss_bytes,
    peak_rss_bytes,
    reset_peak_rss,
    run_configs,
    vm_hwm_bytes,
    weights_source,
)
from gsfm.bench.report import text_table
from gsfm.evaluation.parts import PARTS, PartScorer, PartSummary, combine
from gsfm.inference.device import resolve_device
from gsfm.inference.predictor import VideoPredictor
from gsfm.inference.presence import PresenceSettings
from gsfm.inference.track import track
from gsfm.model.weights import load_network
from gsfm.synthetic.benchmark import LONG_SIZE, LONG_VIDEOS, long_clip, long_plan
from gsfm.synthetic.long import LongClip

log = logging.getLogger(__name__)

CHUNK = 80  # frames rendered and scored together
# Memory settings of the rows: "<memory>[+presence]".
MEMORIES = ("unbounded", "fifo", "long-term")
DEFAULT_SETTINGS = ("unbounded", "fifo", "long-term", "long-term+presence")
DEFAULT_BUDGET = 50


def setting_options(name: str, budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """The EngineConfig fields of a row's setting: unbounded (the original's memory), fifo
    (the original's cap: the `budget` most recent memory frames plus the first), long-term
    (`gsfm.inference.longterm` within `budget`), each "+presence" (the presence test; with
    unbounded, the long-term memory without a budget, which keeps every frame as the
    original's does). ValueError for an unknown setting."""
    memory, plus, extra = name.partition("+")
    if memory not in MEMORIES or (plus and extra != "presence"):
        raise ValueError(
            f"unknown memory setting {name!r}: one of {', '.join(MEMORIES)}, optionally "
            "followed by +presence"
        )
    presence = bool(plus)
    if memory == "fifo" and presence:
        raise ValueError("fifo+presence: the presence test needs the long-term memory")
    options: dict[str, Any] = {}
    if memory == "fifo":
        options["max_memory_frames"] = budget
    if memory == "long-term":
        options.update(memory="long-term", max_memory_frames=budget)
    if presence:
        options.update(memory="long-term", presence=True)
    return options


@dataclass(frozen=True)
class LongConfig:
    """One row: an engine setting over some long videos."""

    label: str = "unbounded"
    options: dict[str, Any] = field(default_factory=dict)  # EngineConfig fields
    presence: dict[str, Any] = field(default_factory=dict)  # PresenceSettings fields
    videos: tuple[int, ...] = tuple(LONG_VIDEOS)
    length: int | None = None  # replaces every video's planned length
    height: int = LONG_SIZE[0]
    width: int = LONG_SIZE[1]
    variant: str = "gsfm-tiny"
    device: str = "cpu"
    threads: int | None = None

    def describe(self) -> str:
        length = "planned lengths" if self.length is None else f"{self.length} frames"
        return f"{self.label}: videos {list(self.videos)}, {length}, {self.width}x{self.height}"


def segment_long(
    predictor: VideoPredictor, clip: LongClip, chunk: int = CHUNK
) -> tuple[PartScorer, float]:
    """Segment a long clip from its first mask, scoring as it goes -> (scorer, seconds spent
    outside rendering and scoring)."""
    scorer = PartScorer(range(1, clip.num_objects + 1))
    truth: deque[np.ndarray] = deque()
    aside = 0.0  # seconds spent rendering and scoring

    def frames() -> Iterator[np.ndarray]:
        nonlocal aside
        for start in range(0, clip.num_frames, chunk):
            began = time.perf_counter()
            images, masks = clip.render(start, min(start + chunk, clip.num_frames))
            aside += time.perf_counter() - began
            for image, mask in zip(images, masks):
                truth.append(mask)
                yield image

    gt: list[np.ndarray] = []
    pred: list[np.ndarray] = []
    start = time.perf_counter()
    for out in track(predictor, frames(), {0: clip.first_mask()}):
        gt.append(truth.popleft())
        pred.append(out.labels)
        if len(gt) == chunk or out.index == clip.num_frames - 1:
            began = time.perf_counter()
            scorer.add(np.stack(gt), np.stack(pred))
            gt.clear()
            pred.clear()
            aside += time.perf_counter() - began
    return scorer, time.perf_counter() - start - aside


def measure_long(config: LongConfig) -> dict[str, Any]:
    """Run one row in this process and return it (scores per part, speed, peak memory)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    network, info = load_network(weights_source(config.variant), device)
    predictor = VideoPredictor(network, device=device, info=info, size=None, **config.options)
    if config.presence and predictor.engine.presence is not None:
        predictor.engine.presence.settings = replace(PresenceSettings(), **config.presence)
    gc.collect()
    peak_reset = reset_peak_rss()
    baseline = current_rss_bytes() or peak_rss_bytes()
    scorers, videos = [], []
    seconds = 0.0
    for index in config.videos:
        plan = long_plan(index, config.length)
        clip = long_clip(plan, (config.height, config.width))
        scorer, spent = segment_long(predictor, clip)
        seconds += spent
        scorers.append(scorer)
        videos.append({"name": plan.name, "frames": plan.frames, **_plain(scorer.summary())})
        log.info("%s: %s", plan.name, _short(scorer.summary()))
    peak = peak_rss_bytes()
    hwm = vm_hwm_bytes()
    if hwm is not None:
        peak = min(peak, hwm)
    frames = sum(s.num_frames for s in scorers)
    mib = 2**20
    row = asdict(config)
    row.update(
        weights=info.source,
        **_plain(combine(scorers)),
        videos_scored=videos,
        seconds=seconds,
        fps=frames / seconds if seconds > 0 else 0.0,
        memory_kind="peak RSS" if peak_reset else "peak RSS (process lifetime)",
        peak_memory_mb=peak / mib,
        memory_growth_mb=max(0, peak - baseline) / mib,
        memory_frames=predictor.engine.memory_frames,
        error=None,
    )
    return row


def long_configs(
    settings: Sequence[str],
    budget: int = DEFAULT_BUDGET,
    lengths: Sequence[int | None] = (None,),
    videos: Sequence[int] = tuple(LONG_VIDEOS),
    size: tuple[int, int] = LONG_SIZE,
    variant: str = "gsfm-tiny",
    device: str = "cpu",
    threads: int | None = None,
) -> list[LongConfig]:
    """One row per (length, setting)."""
    return [
        LongConfig(
            label=name if name.startswith("unbounded") else f"{name} {budget}",
            options=setting_options(name, budget),
            videos=tuple(videos),
            length=length,
            height=size[0],
            width=size[1],
            variant=variant,
            device=device,
            threads=threads,
        )
        for length in lengths
        for name in settings
    ]


def run_long_configs(configs: Sequence[LongConfig], isolate: bool = True) -> list[dict[str, Any]]:
    """Measure each row (each in its own process when `isolate`)."""
    return run_configs(
        configs,
        isolate,
        measure=measure_long,
        kind="long",
        summary=lambda c, row: f"{c.label}: {_short(row, dicts=True)}, {row['fps']:.2f} frames/s",
    )


def _plain(summary: dict[str, object]) -> dict[str, object]:
    """PartSummary values -> dicts (for JSON)."""
    return {
        k: (
            {"j": v.j, "f": v.f, "jf": v.jf, "frames": v.frames}
            if isinstance(v, PartSummary)
            else v
        )
        for k, v in summary.items()
    }


def _short(summary: dict[str, Any], dicts: bool = False) -> str:
    """One line: J&F overall and per part, absent frames empty."""
    parts = " ".join(
        f"{name} {(summary[name]['jf'] if dicts else summary[name].jf):.3f}"
        for name in ("all", *PARTS)
    )
    return f"J&F {parts}; absent empty {summary['absent_empty']:.3f}"


def format_long_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a text table: J&F overall and per part, absent frames empty, speed, memory."""
    header = ["setting", "frames", "J&F", *PARTS, "absent empty", "fps", "peak MiB", "mem fr"]
    body = []
    for r in rows:
        first = [r["label"], str(r.get("length") or "planned")]
        if r.get("error"):
            body.append([*first, f"failed: {r['error']}"])
            continue
        scores = [_num(r[name]["jf"]) for name in ("all", *PARTS)]
        body.append(
            [
                r["label"],
                str(r["frames"]),
                *scores,
                _num(r["absent_empty"]),
                f"{r['fps']:.2f}",
                f"{r['peak_memory_mb']:.0f}",
                str(r["memory_frames"]),
            ]
        )
    return text_table(header, body)


def _num(value: float) -> str:
    return (
        "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"
    )
