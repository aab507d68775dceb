"""Per-stage profile: FLOPs, seconds and achieved GFLOP/s of each part of one video frame.

A frame costs: key encoding (trunk + key projection), the spectral modules (the LFM on the key
encoder's f16, the HFM in the decoder's boundary branch, once per object), the memory read
(fp32 affinity, top-k softmax, readout), decoding every object and, every `mem_every` frames,
value encoding. The real engine runs the frame and its named stages (`gsfm.inference.stages`)
are observed; the spectral modules are timed inside those stages by forward hooks, and their
FLOPs counted on the very inputs they received.

FLOPs come from `torch.utils.flop_counter.FlopCounterMode`, which counts matmuls and
convolutions (2 per multiply-add) and nothing else: FFTs, top-k, softmax, norms and
element-wise work cost time but no counted FLOPs. The counting run doubles as the warm-up;
seconds are the median of `repeats` timed frames. The pipeline's share of peak is measured
against a matmul peak taken in the same process, at the same precision.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from gsfm.bench.machine import describe_machine, machine_line
from gsfm.bench.peak import matmul_peak
from gsfm.bench.report import text_table
from gsfm.inference.device import DTYPES, autocast_context, resolve_device
from gsfm.inference.engine import InferenceEngine
from gsfm.inference.stages import observe
from gsfm.model.network import GSFM
from gsfm.model.weights import load_network

log = logging.getLogger(__name__)

STAGE_ORDER = ("key encoding", "spectral (LFM + HFM)", "memory read", "decoding", "value encoding")
# Stages whose work is done once per object (the rest once per frame).
PER_OBJECT = ("spectral (LFM + HFM)", "memory read", "decoding", "value encoding")


@dataclass
class StageStats:
    """One stage of a frame: FLOPs and seconds per call, calls per video frame."""

    name: str
    gflop: float  # per call
    seconds: float  # per call (median of the timed runs)
    per_frame: float  # calls per video frame (value encoding: 1 / mem_every)

    @property
    def gflops_per_s(self) -> float:
        return self.gflop / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["gflop_per_s"] = self.gflops_per_s
        return d


@dataclass
class ProfileResult:
    """The stages of one frame for one (device, precision, variant, size, objects)."""

    device: str
    precision: str
    variant: str
    height: int  # the network's input (padded to a multiple of 16)
    width: int
    objects: int
    memory_frames: int
    mem_every: int
    top_k: int | None
    stages: list[StageStats]
    peak_gflop_per_s: float | None = None

    @property
    def totals(self) -> tuple[float, float]:
        return pipeline_totals(self.stages)

    @property
    def gflop_per_s(self) -> float:
        gflop, seconds = self.totals
        return gflop / seconds if seconds > 0 else 0.0

    @property
    def share_of_peak(self) -> float | None:
        if not self.peak_gflop_per_s:
            return None
        return self.gflop_per_s / self.peak_gflop_per_s

    def to_dict(self) -> dict[str, Any]:
        gflop, seconds = self.totals
        d = {k: v for k, v in asdict(self).items() if k != "stages"}
        d["stages"] = [s.to_dict() for s in self.stages]
        d["frame"] = {
            "gflop": gflop,
            "seconds": seconds,
            "gflop_per_s": self.gflop_per_s,
            "share_of_peak": self.share_of_peak,
        }
        return d


class ModuleTimer:
    """Wall time of a submodule's calls (forward hooks) and the input of its last call."""

    def __init__(self, module: nn.Module, device: torch.device) -> None:
        self.device = device
        self.seconds: list[float] = []
        self.last_input: Tensor | None = None
        self._start = 0.0
        self._handles = [
            module.register_forward_pre_hook(self._before),
            module.register_forward_hook(self._after),
        ]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def _before(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.last_input = args[0]
        self._sync()
        self._start = time.perf_counter()

    def _after(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self._sync()
        self.seconds.append(time.perf_counter() - self._start)

    def reset(self) -> None:
        self.seconds.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def count_gflop(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run `fn` once under the FLOP counter -> (its output, GFLOP)."""
    with FlopCounterMode(display=False) as counter:
        out = fn()
    return out, counter.get_total_flops() / 1e9


def padded(size: int, multiple: int = 16) -> int:
    """The network's input size for a frame side (the engine pads to a multiple of 16)."""
    return -(-size // multiple) * multiple


class StageMeter:
    """Observer of the engine's named stages: FLOPs of each stage while `counting`, else the
    wall time of each call."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.counting = False
        self.gflop: dict[str, float] = {}
        self.seconds: dict[str, list[float]] = {}

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        if self.counting:
            with FlopCounterMode(display=False) as counter:
                yield
            self.gflop[name] = self.gflop.get(name, 0.0) + counter.get_total_flops() / 1e9
            return
        self._sync()
        start = time.perf_counter()
        yield
        self._sync()
        self.seconds.setdefault(name, []).append(time.perf_counter() - start)


def profile_frame(
    net: GSFM,
    height: int,
    width: int,
    objects: int,
    precision: str = "fp32",
    memory_frames: int = 10,
    top_k: int | None = 50,
    mem_every: int = 3,
    repeats: int = 1,
) -> list[StageStats]:
    """Profile each stage of one frame of a video at (height, width) (padded to 16).

    The real engine runs a frame that reads `memory_frames` memory frames, decodes every
    object and writes its memory (the memory is capped at `memory_frames`, so each repeat
    reads as many). Its named stages are measured by observing them: the first call counts
    FLOPs (and warms up), the next `repeats` calls are timed (median per stage).
    """
    device = next(net.parameters()).device
    height, width = padded(height), padded(width)
    engine = InferenceEngine(
        net,
        device=device,
        top_k=top_k,
        mem_every=mem_every,
        size=None,
        precision=precision,
        max_memory_frames=max(2, memory_frames),
    )
    frame = torch.rand(1, 3, height, width, device=device)
    given = (list(range(1, objects + 1)), torch.rand(objects, height, width, device=device))
    engine.step_padded(frame, given, 0)
    for k in range(1, memory_frames):  # due frames (every mem_every): each is written
        engine.step_padded(frame, None, k * mem_every)
    t = memory_frames * mem_every
    meter = StageMeter(device)
    lfm = ModuleTimer(net.lfm, device)
    hfm = ModuleTimer(net.decoder.hfm, device)
    try:
        with observe(meter):
            meter.counting = True
            engine.step_padded(frame, None, t)
            meter.counting = False
            lfm_in, hfm_in = lfm.last_input, hfm.last_input
            lfm.reset()
            hfm.reset()
            for _ in range(max(1, repeats)):
                t += mem_every
                engine.step_padded(frame, None, t)
        assert lfm_in is not None and hfm_in is not None
        with torch.inference_mode(), autocast_context(device, precision):
            _, g_lfm = count_gflop(lambda: net.lfm(lfm_in))
            _, g_hfm = count_gflop(lambda: net.decoder.hfm(hfm_in))
        s_lfm, s_hfm = statistics.median(lfm.seconds), statistics.median(hfm.seconds)
    finally:
        lfm.remove()
        hfm.remove()
    g, s = meter.gflop, {k: statistics.median(v) for k, v in meter.seconds.items()}
    cv = engine.bank.values_by_position().shape[-1]
    g_read = g["read_memory"] + gather_gflop(
        (1, objects, cv, engine.memory_frames, height // 16, width // 16), top_k
    )
    return [
        StageStats("key encoding", g["encode_key"] - g_lfm, s["encode_key"] - s_lfm, 1.0),
        StageStats("spectral (LFM + HFM)", g_lfm + g_hfm, s_lfm + s_hfm, 1.0),
        StageStats("memory read", g_read, s["read_memory"], 1.0),
        StageStats("decoding", g["decode"] - g_hfm, s["decode"] - s_hfm, 1.0),
        StageStats("value encoding", g["encode_value"], s["encode_value"], 1.0 / mem_every),
    ]


def gather_gflop(memory_shape: Sequence[int], top_k: int | None) -> float:
    """Multiply-adds of the top-k readout of a memory [B, N, Cv, T, h, w], which gathers rows
    instead of calling a matmul (so FlopCounterMode does not see them): 2 * K * objects * Cv
    per query position."""
    b, n, cv, frames, h, w = memory_shape
    memory = frames * h * w
    if top_k is None or top_k >= memory:
        return 0.0  # the dense path is a matmul, counted already
    return 2 * top_k * b * n * cv * h * w / 1e9


def pipeline_totals(stats: Sequence[StageStats]) -> tuple[float, float]:
    """(GFLOP, seconds) per video frame, value encoding amortised over mem_every."""
    gflop = sum(s.gflop * s.per_frame for s in stats)
    seconds = sum(s.seconds * s.per_frame for s in stats)
    return gflop, seconds


@dataclass
class ProfileReport:
    """Everything one `gsfm bench --profile` measured (what goes into the JSON)."""

    machine: dict[str, Any]
    settings: dict[str, Any]
    peaks: dict[str, float] = field(default_factory=dict)  # "device precision" -> GFLOP/s
    results: list[ProfileResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": "gsfm profile",
            "schema": 1,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": self.machine,
            "settings": self.settings,
            "matmul_peak_gflop_per_s": self.peaks,
            "results": [r.to_dict() for r in self.results],
        }


def run_profile(
    devices: Sequence[str],
    variants: Sequence[str] = ("gsfm",),
    sizes: Sequence[tuple[int, int]] = ((480, 854),),
    objects: Sequence[int] = (1, 2, 5),
    precisions: Sequence[str] = ("fp32", "bf16"),
    memory_frames: int = 10,
    top_k: int | None = 50,
    mem_every: int = 3,
    repeats: int = 1,
    peak_seconds: float = 2.0,
    machine: dict[str, Any] | None = None,
) -> ProfileReport:
    """Profile every combination; untrained networks (`random:<variant>`) as FLOPs and speed
    do not depend on the weights. The matmul peak is taken per device and precision, just
    before that precision's stages."""
    report = ProfileReport(
        machine=machine or describe_machine(),
        settings={
            "variants": list(variants),
            "sizes": [f"{w}x{h}" for h, w in sizes],
            "objects": list(objects),
            "precisions": list(precisions),
            "memory_frames": memory_frames,
            "top_k": top_k,
            "mem_every": mem_every,
            "repeats": repeats,
            "weights": "untrained (random:<variant>)",
        },
    )
    for device_name in devices:
        device = resolve_device(device_name)
        for precision in precisions:
            peak = matmul_peak(DTYPES[precision], device, seconds=peak_seconds) / 1e9
            report.peaks[f"{device.type} {precision}"] = peak
            log.info("%s %s matmul peak: %.1f GFLOP/s", device.type, precision, peak)
            for variant in variants:
                net, _ = load_network(f"random:{variant}", device)
                for (h, w), n in itertools.product(sizes, objects):
                    log.info(
                        "profiling %s %dx%d, %d obj, %s %s", variant, w, h, n, device, precision
                    )
                    stages = profile_frame(
                        net, h, w, n, precision, memory_frames, top_k, mem_every, repeats
                    )
                    report.results.append(
                        ProfileResult(
                            device.type,
                            precision,
                            variant,
                            padded(h),
                            padded(w),
                            n,
                            memory_frames,
                            mem_every,
                            top_k,
                            stages,
                            peak,
                        )
                    )
                del net
    return report


def format_profile(report: ProfileReport) -> str:
    """One block per result (stages), then a summary line per result."""
    s = report.settings
    lines = [
        f"machine: {machine_line(report.machine)}",
        f"memory read over {s['memory_frames']} memory frames, top-k {s['top_k']}, value "
        f"encoding every {s['mem_every']} frames (amortised); FLOPs count matmuls and "
        "convolutions only; untrained weights",
        "matmul peak: " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in report.peaks.items()),
        "",
    ]
    summary = []
    for r in report.results:
        lines.append(
            f"{r.variant} {r.width}x{r.height}, {r.objects} object{'s' * (r.objects != 1)}, "
            f"{r.device} {r.precision}"
        )
        body = [
            [
                st.name,
                f"{st.per_frame:.2f}",
                _num(st.gflop),
                _num(st.seconds),
                _num(st.gflops_per_s),
            ]
            for st in r.stages
        ]
        gflop, seconds = r.totals
        share = r.share_of_peak
        body.append(["frame (pipeline)", "", _num(gflop), _num(seconds), _num(r.gflop_per_s)])
        lines.append(text_table(["stage", "calls/frame", "GFLOP/call", "s/call", "GFLOP/s"], body))
        lines.append("")
        summary.append(
            [
                r.device,
                r.precision,
                r.variant,
                f"{r.width}x{r.height}",
                str(r.objects),
                _num(gflop),
                _num(seconds),
                _num(r.gflop_per_s),
                _num(r.peak_gflop_per_s or 0.0),
                "-" if share is None else f"{100 * share:.0f}%",
            ]
        )
    lines.append("summary (per video frame)")
    lines.append(
        text_table(
            [
                "device",
                "prec",
                "variant",
                "size",
                "obj",
                "GFLOP",
                "s",
                "GFLOP/s",
                "peak GFLOP/s",
                "of peak",
            ],
            summary,
        )
    )
    return "\n".join(lines)


def _num(value: float) -> str:
    """Three significant figures at least, no exponent (0.0123, 1.23, 12.3, 123, 1234)."""
    if value >= 100 or value == 0:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.{3 - len(str(int(value)))}f}"
    return f"{value:.3g}" if value >= 1e-3 else f"{value:.6f}"
