"""Whole-pipeline benchmark: frames per second, per-stage time and peak memory of a video.

Each configuration (variant, frame size, clip length, objects, memory cap, device, precision)
segments a procedural clip through the public `VideoPredictor` at the frames' own size (no
resize), after a short warm-up. Stages are the engine's own named stages
(`gsfm.inference.stages`: encode_key, read_memory, decode, encode_value), timed by observing
them; "other" = the frame's time minus those (frame preparation, aggregation, resizing back,
label maps).

Peak memory: each configuration runs in a fresh subprocess so that peaks do not mix. On CPU it
is the process's peak RSS (`ru_maxrss`) during the clip; the peak is reset after loading and
warm-up (Linux `/proc/self/clear_refs`), and the growth is that peak minus the RSS before the
clip. On CUDA it is `torch.cuda.max_memory_allocated` during the clip, minus what was
allocated before it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gsfm
from gsfm.bench.report import text_table
from gsfm.errors import GSFMError
from gsfm.inference.device import resolve_device
from gsfm.inference.predictor import VideoPredictor
from gsfm.inference.stages import STAGES as ENGINE_STAGES
from gsfm.inference.stages import observe
from gsfm.model.weights import bundled_names, load_network
from gsfm.synthetic.clips import make_clip

log = logging.getLogger(__name__)

# Named frame sizes as (height, width): DAVIS 480p and a small size for long clips.
SIZES: dict[str, tuple[int, int]] = {"480p": (480, 854), "small": (128, 224)}
VARIANT_NAMES = ("gsfm", "gsfm-tiny")
FULL_FRAMES = (50, 200, 1000)
FULL_CAPS: tuple[int | None, ...] = (None, 20)
DEFAULT_OBJECTS = 2
DEFAULT_WARMUP = 2
STAGES = ("encode_key", "read_memory", "decode", "encode_value", "other")
# Frames drawn once per configuration and cycled: decoding/drawing cost is not the point.
FRAME_POOL = 8


@dataclass(frozen=True)
class PipelineConfig:
    """One row of the benchmark."""

    variant: str = "gsfm-tiny"
    height: int = 128
    width: int = 224
    frames: int = 50
    objects: int = DEFAULT_OBJECTS
    cap: int | None = None  # memory cap in frames (None = unbounded)
    device: str = "cpu"
    precision: str = "fp32"
    threads: int | None = None  # torch threads (None = torch's default)
    warmup: int = DEFAULT_WARMUP  # frames segmented (and discarded) before timing

    @property
    def size_label(self) -> str:
        return f"{self.width}x{self.height}"

    def describe(self) -> str:
        cap = "no cap" if self.cap is None else f"cap {self.cap}"
        return (
            f"{self.variant} {self.size_label} {self.frames} frames {self.objects} obj {cap} "
            f"{self.device} {self.precision}"
        )


def default_configs(
    device: str,
    objects: Sequence[int] = (DEFAULT_OBJECTS,),
    precisions: Sequence[str] = ("fp32",),
    threads: int | None = None,
    warmup: int = DEFAULT_WARMUP,
) -> list[PipelineConfig]:
    """The default rows: what fits in a few minutes on a 2-core CPU.

    - gsfm @ 480p: 5 frames (speed only; the paper network runs at ~0.1-0.3 frames/s there);
    - gsfm-tiny @ 480p: 50 frames;
    - gsfm-tiny @ small (224x128): 50 frames, and 200 and 1000 frames with and without a
      20-frame memory cap (a 50-frame clip stores 17 memory frames, so a cap of 20 changes
      nothing there).
    """
    h480, w480 = SIZES["480p"]
    hs, ws = SIZES["small"]
    rows = [
        ("gsfm", h480, w480, 5, None),
        ("gsfm-tiny", h480, w480, 50, None),
        ("gsfm-tiny", hs, ws, 50, None),
        ("gsfm-tiny", hs, ws, 200, None),
        ("gsfm-tiny", hs, ws, 200, 20),
        ("gsfm-tiny", hs, ws, 1000, None),
        ("gsfm-tiny", hs, ws, 1000, 20),
    ]
    return [
        PipelineConfig(v, h, w, f, n, c, device, p, threads, warmup)
        for (v, h, w, f, c), n, p in itertools.product(rows, objects, precisions)
    ]


def grid_configs(
    devices: Sequence[str],
    variants: Sequence[str] = VARIANT_NAMES,
    sizes: Sequence[tuple[int, int]] = tuple(SIZES.values()),
    frames: Sequence[int] = FULL_FRAMES,
    caps: Sequence[int | None] = FULL_CAPS,
    objects: Sequence[int] = (DEFAULT_OBJECTS,),
    precisions: Sequence[str] = ("fp32",),
    threads: int | None = None,
    warmup: int = DEFAULT_WARMUP,
) -> list[PipelineConfig]:
    """Every combination of the given values (the `--full` grid by default)."""
    return [
        PipelineConfig(v, h, w, f, n, c, d, p, threads, warmup)
        for d, v, (h, w), f, n, c, p in itertools.product(
            devices, variants, sizes, frames, objects, caps, precisions
        )
    ]


# ----------------------------------------------------------------------------- one row


def weights_source(variant: str) -> str:
    """The bundled weights of a variant when shipped, else an untrained network of it."""
    return variant if variant in bundled_names() else f"random:{variant}"


def make_frames(
    height: int, width: int, objects: int, pool: int = FRAME_POOL, seed: int = 0
) -> tuple[list[np.ndarray], np.ndarray]:
    """A few procedural frames (HxWx3 uint8) and a first label map holding every object."""
    clip = make_clip(seed, pool, height, width, objects, appear=[0] * objects)
    first = clip.masks[0].copy()
    # An object hidden behind another in frame 0 would not be tracked: give it a small box.
    for i in range(1, objects + 1):
        if not (first == i).any():
            top = (i - 1) * height // max(objects, 1)
            bottom = max(top + 2, top + height // (2 * max(objects, 1)))
            first[top:bottom, : max(2, width // 8)] = i
    return list(clip.frames), first


def cycled(frames: Sequence[np.ndarray], count: int) -> Iterator[np.ndarray]:
    """`count` frames going back and forth through the pool (smooth, like a video)."""
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1)) or [0]
    for i in range(count):
        yield frames[order[i % len(order)]]


class StageTimers:
    """Wall time of each named engine stage (`gsfm.inference.stages`) while active.

    An observer of the engine's own stages: nothing is patched. On CUDA each stage is
    synchronised before and after, so its time lands in the right stage.
    """

    def __init__(self, device: torch.device) -> None:
        self.sync = torch.cuda.synchronize if device.type == "cuda" else _no_sync
        self.seconds: dict[str, float] = dict.fromkeys(ENGINE_STAGES, 0.0)
        self._active = contextlib.ExitStack()

    def __enter__(self) -> StageTimers:
        self._active.enter_context(observe(self._time))
        return self

    def __exit__(self, *exc: object) -> None:
        self._active.close()

    def reset(self) -> None:
        self.seconds = dict.fromkeys(ENGINE_STAGES, 0.0)

    @contextlib.contextmanager
    def _time(self, name: str) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.seconds[name] += time.perf_counter() - start

    def per_stage(self, total: float) -> dict[str, float]:
        """Seconds per reported stage over the timed frames ("other": the rest of `total`)."""
        out = {name: self.seconds[name] for name in STAGES if name != "other"}
        out["other"] = total - sum(out.values())
        return out


def _no_sync() -> None:
    pass


def current_rss_bytes() -> int | None:
    """Resident set size now (Linux /proc/self/statm), None where unknown."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """This process's peak RSS (`ru_maxrss`: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def vm_hwm_bytes() -> int | None:
    """The memory map's RSS high-water mark (Linux VmHWM), None where unknown.

    `ru_maxrss` reads the same mark but also keeps the peaks of threads that have exited,
    which a reset cannot clear; where both exist, the smaller is this process's true peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False where not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure_config(config: PipelineConfig) -> dict[str, Any]:
    """Run one configuration in this process and return its row (see `run_configs`)."""
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    source = weights_source(config.variant)
    network, info = load_network(source, device)
    predictor = VideoPredictor(
        network,
        device=device,
        info=info,
        size=None,
        max_memory_frames=config.cap,
        precision=config.precision,
    )
    pool, first_mask = make_frames(config.height, config.width, config.objects)
    timers = StageTimers(device)

    def segment(count: int) -> int:
        done = 0
        for _ in predictor.segment(cycled(pool, count), first_mask):
            done += 1
        return done

    if config.warmup > 0:
        segment(config.warmup)
    predictor.reset()
    timers.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        peak_reset = True
    else:
        peak_reset = reset_peak_rss()
        baseline = current_rss_bytes() or peak_rss_bytes()

    with timers:
        start = time.perf_counter()
        done = segment(config.frames)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start

    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device)
        memory_kind = "cuda max_memory_allocated"
    else:
        peak = peak_rss_bytes()
        hwm = vm_hwm_bytes()
        if hwm is not None:
            peak = min(peak, hwm)
        memory_kind = "peak RSS" if peak_reset else "peak RSS (process lifetime)"
    stages = timers.per_stage(seconds)
    mib = 2**20
    row = asdict(config)
    row.update(
        size=config.size_label,
        weights=info.source,
        parameters=info.parameters,
        frames_done=done,
        seconds=seconds,
        fps=done / seconds if seconds > 0 else 0.0,
        seconds_per_frame=seconds / done if done else 0.0,
        stage_ms_per_frame={
            k: (None if v is None else 1000.0 * v / max(done, 1)) for k, v in stages.items()
        },
        memory_kind=memory_kind,
        peak_memory_mb=peak / mib,
        baseline_memory_mb=baseline / mib,
        memory_growth_mb=max(0, peak - baseline) / mib,
        memory_frames=predictor.engine.memory_frames,
        memory_bank_mb=predictor.engine.bank.nbytes() / mib,
        error=None,
    )
    return row


# ----------------------------------------------------------------------------- many rows


def measure_isolated(
    config: Any, timeout: float | None = None, kind: str = "pipeline"
) -> dict[str, Any]:
    """A row measured in a fresh Python process (its own peak memory): `measure_config` of a
    `PipelineConfig`, or (kind "long") `gsfm.bench.long.measure_long` of a `LongConfig`;
    failures -> a row whose `error` says what went wrong (CUDA out of memory, killed, ...)."""
    src = str(Path(gsfm.__file__).resolve().parents[1])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="gsfm-bench-") as tmp:
        out = Path(tmp) / "row.json"
        command = [
            sys.executable,
            "-m",
            "gsfm.bench._worker",
            json.dumps(asdict(config)),
            str(out),
            kind,
        ]
        try:
            proc = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            return _failed(config, f"timed out after {timeout:.0f} s")
        if proc.stderr.strip():
            log.debug("worker stderr:\n%s", proc.stderr.rstrip())
        if out.is_file():
            return json.loads(out.read_text())
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        why = f"worker exited with {proc.returncode}"
        if proc.returncode < 0:
            why += " (killed; out of memory?)"
        return _failed(config, f"{why}: {tail[0][:300]}".rstrip(": "))


def _failed(config: Any, error: str) -> dict[str, Any]:
    row = asdict(config)
    if isinstance(config, PipelineConfig):
        row.update(size=config.size_label)
    row.update(error=error)
    return row


def _pipeline_summary(config: PipelineConfig, row: dict[str, Any]) -> str:
    return f"{config.describe()}: {row['fps']:.2f} frames/s, peak {row['peak_memory_mb']:.0f} MiB"


def run_configs(
    configs: Sequence[Any],
    isolate: bool = True,
    progress: Callable[[int, int, Any, dict[str, Any]], None] | None = None,
    *,
    measure: Callable[[Any], dict[str, Any]] = measure_config,
    kind: str = "pipeline",
    summary: Callable[[Any, dict[str, Any]], str] = _pipeline_summary,
) -> list[dict[str, Any]]:
    """Measure each row's configuration (each in its own process when `isolate`): `measure`
    in this process, the worker's `kind` in a fresh one (`measure_isolated`); `summary` is
    the log line of a row that did not fail. Pipeline rows by default; `gsfm.bench.long`
    passes its own."""
    rows = []
    for i, config in enumerate(configs):
        log.info("[%d/%d] %s", i + 1, len(configs), config.describe())
        if isolate:
            row = measure_isolated(config, kind=kind)
        else:
            try:
                row = measure(config)
            except (GSFMError, RuntimeError) as exc:
                row = _failed(config, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        if row.get("error"):
            log.warning("%s failed: %s", config.describe(), row["error"])
        else:
            log.info("%s", summary(config, row))
        rows.append(row)
        if progress is not None:
            progress(i, len(configs), config, row)
    return rows


@dataclass
class PipelineReport:
    """Rows plus the machine and settings that produced them (what goes into the JSON)."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": "gsfm pipeline",
            "schema": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": self.machine,
            "settings": self.settings,
            "rows": self.rows,
        }


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a fixed-width text table (one line per configuration)."""
    header = [
        "device",
        "variant",
        "size",
        "frames",
        "obj",
        "cap",
        "prec",
        "fps",
        "s/frame",
        "encode",
        "read",
        "decode",
        "value",
        "other",
        "peak MiB",
        "growth",
        "mem fr",
    ]
    body = []
    for r in rows:
        first = [
            r["device"],
            r["variant"],
            r["size"],
            str(r["frames"]),
            str(r["objects"]),
            "-" if r["cap"] is None else str(r["cap"]),
            r["precision"],
        ]
        if r.get("error"):
            body.append([*first, f"failed: {r['error']}"])
            continue
        ms = r["stage_ms_per_frame"]
        body.append(
            [
                *first,
                f"{r['fps']:.2f}",
                f"{r['seconds_per_frame']:.3f}",
                *(_ms(ms.get(k)) for k in STAGES),
                f"{r['peak_memory_mb']:.0f}",
                f"{r['memory_growth_mb']:.0f}",
                str(r["memory_frames"]),
            ]
        )
    return text_table(header, body)


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"
