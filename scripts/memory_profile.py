"""Peak memory of the inference engine on long videos, with and without a memory cap.

Not a test: prints a table of peak memory for each (frames, cap) setting. Each setting runs in
a fresh subprocess so that the process-wide peak (ru_maxrss on CPU, max_memory_allocated on
CUDA) belongs to that setting alone; "growth" is the peak minus the memory after the first
frame (network loaded, first mask in memory), i.e. what the video's length added.

    .venv/bin/python scripts/memory_profile.py                      # gsfm-tiny, 100/1000 frames
    .venv/bin/python scripts/memory_profile.py --variant gsfm --size 240 --device cuda
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def synthetic_frames(count: int, height: int, width: int):
    """A square moving over a gradient: cheap to make, enough for the network to run on."""
    import numpy as np

    ys, xs = np.mgrid[0:height, 0:width]
    background = np.stack([xs * 255 // width, ys * 255 // height, (xs + ys) % 256], -1)
    side = min(height, width) // 4
    for t in range(count):
        frame = background.astype(np.uint8).copy()
        y = (t * 2) % (height - side)
        x = (t * 3) % (width - side)
        frame[y : y + side, x : x + side] = (220, 40, 40)
        mask = np.zeros((height, width), np.uint8)
        mask[y : y + side, x : x + side] = 1
        yield frame, mask


def peak_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def current_bytes(device: str) -> int:
    import torch

    if device.startswith("cuda"):
        return torch.cuda.memory_allocated()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def run_one(args: argparse.Namespace) -> dict:
    """Segment `args.frames` frames in this process and report its memory."""
    import torch

    from gsfm.inference import VideoPredictor, track

    torch.set_num_threads(args.threads)
    cap = args.cap or None
    predictor = VideoPredictor.from_weights(
        f"random:{args.variant}", device=args.device, size=None, max_memory_frames=cap
    )
    start = time.perf_counter()
    baseline = None
    first_mask = next(synthetic_frames(1, args.height, args.width))[1]
    frames = (f for f, _ in synthetic_frames(args.frames, args.height, args.width))
    for out in track(predictor, frames, {0: first_mask}):
        if out.index == 0:
            baseline = current_bytes(args.device)
            if args.device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
    bank = predictor.engine.bank
    return {
        "frames": args.frames,
        "cap": cap,
        "memory_frames": bank.num_frames,
        "bank_mib": bank.nbytes() / 2**20,
        "peak_mib": peak_bytes(args.device) / 2**20,
        "growth_mib": (peak_bytes(args.device) - (baseline or 0)) / 2**20,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="gsfm-tiny", choices=["gsfm-tiny", "gsfm"])
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--width", type=int, default=160)
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--caps", type=int, nargs="+", default=[0, 50], help="0 = unbounded")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cap", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.frames = args.frames[0]
        print(json.dumps(run_one(args)))
        return
    print(f"{args.variant} at {args.width}x{args.height} on {args.device}, mem_every 3, top-k 50")
    print(
        f"{'frames':>7} {'cap':>6} {'mem frames':>10} {'bank MiB':>9} {'peak MiB':>9} "
        f"{'growth MiB':>10} {'seconds':>8}"
    )
    for frames in args.frames:
        for cap in args.caps:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                "--frames",
                str(frames),
                "--cap",
                str(cap),
                "--variant",
                args.variant,
                "--height",
                str(args.height),
                "--width",
                str(args.width),
                "--device",
                args.device,
                "--threads",
                str(args.threads),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{r['frames']:>7} {r['cap'] or 'none':>6} {r['memory_frames']:>10} "
                f"{r['bank_mib']:>9.1f} {r['peak_mib']:>9.1f} {r['growth_mib']:>10.1f} "
                f"{r['seconds']:>8.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
