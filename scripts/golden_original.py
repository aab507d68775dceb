"""Golden outputs of the ORIGINAL GSFM code (workforai/GSFM), for tests/model/test_golden.py.

Run once, by hand, on a checkout of the original repository (never committed here):

    git --git-dir=/work/.mirror/workforai+GSFM/repo archive HEAD | tar -x -C /tmp/gsfm-orig
    python scripts/golden_original.py --original /tmp/gsfm-orig --out tests/data/golden

It builds the original training network (`model/network.py: STCN`, multi-object) and its
inference network (`model/eval_network.py`) with seeded random weights
(`tests/model/golden_weights.py`; the paper network is ~200 MB, so only a seed and the layout
are stored), runs them on CPU on a tiny 3-frame, 2-object clip of 58x75 pixels (padded by the
original's own `pad_divide_by` to 64x80), and saves their intermediate outputs and the original
`LossComputer` total. The original code needs three changes to run here, all made at run time
in this script and nothing written to its files:
- `torchvision` cannot be imported with this torch: `sys.modules["torchvision"]` is a stub
  (`model/modules.py` imports `torchvision.models` but never uses it);
- `mod_resnet.resnet18/50(pretrained=True)` download ImageNet weights: they are wrapped to
  build the network with `pretrained=False` (the seeded weights replace everything anyway);
- the LFM/HFM Gaussian calls `.cuda()`: `torch.Tensor.cuda` is the identity while it runs.
The original's training loop and inference core hard-code CUDA too, so the script drives the
original network the way `model/model.py: STCNModel.do_pass` (training, BN in eval mode as
there) and `inference_core.py: InferenceCore` (top-k memory bank, soft aggregation) do.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import types
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.model.golden_weights import seeded_state  # noqa: E402

log = logging.getLogger("golden_original")

SEED = 19
HEIGHT, WIDTH = 58, 75  # not multiples of 16: the original pads to 64 x 80
FRAMES, OBJECTS, BATCH = 3, 2, 2
TOP_K = 3  # random keys give peaked attention: top-20 of 40 would barely differ from all 40
LOSS_PARA = {"start_warm": 20000, "end_warm": 70000}
LOSS_ITERATION = 100_000  # past end_warm: the bootstrapped CE keeps the hardest 15% of pixels


def patch_original(original: Path) -> None:
    """Make the original code importable and runnable on CPU (see the module docstring)."""
    stub = types.ModuleType("torchvision")
    stub.models = types.ModuleType("torchvision.models")  # type: ignore[attr-defined]
    sys.modules["torchvision"] = stub
    sys.modules["torchvision.models"] = stub.models  # type: ignore[attr-defined]
    sys.path.insert(0, str(original))
    from model import mod_resnet

    for name in ("resnet18", "resnet50"):
        build = getattr(mod_resnet, name)

        def no_download(pretrained: bool = True, extra_chan: int = 0, _build=build):
            return _build(pretrained=False, extra_chan=extra_chan)

        setattr(mod_resnet, name, no_download)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # type: ignore[method-assign]


def make_clip(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised-looking frames [B, T, 3, H, W] and object masks [B, T, N, H, W] (0/1).

    Two moving boxes per sample on a smooth random background; the second sample has only
    one object (its second mask is empty, selector 0), as a sample with one target has."""
    noise = torch.randn(BATCH * FRAMES, 3, HEIGHT // 4 + 1, WIDTH // 4 + 1, generator=gen)
    frames = F.interpolate(noise, size=(HEIGHT, WIDTH), mode="bilinear", align_corners=False)
    # Multiples of 1/64 in a small range: exact in fp16, so the stored inputs are half-size.
    frames = (frames.view(BATCH, FRAMES, 3, HEIGHT, WIDTH) * 64).round().clamp(-160, 160) / 64
    masks = torch.zeros(BATCH, FRAMES, OBJECTS, HEIGHT, WIDTH)
    colours = torch.randn(BATCH, OBJECTS, 3, generator=gen)
    for b in range(BATCH):
        for t in range(FRAMES):
            for n in range(OBJECTS if b == 0 else 1):
                top = 6 + 4 * t + 20 * n
                left = 8 + 5 * t + 30 * n + 3 * b
                masks[b, t, n, top : top + 17 + 2 * n, left : left + 21 - 3 * n] = 1
                inside = masks[b, t, n].bool()
                patch = colours[b, n, :, None] + 0.3 * frames[b, t, :, inside]
                frames[b, t, :, inside] = (patch * 64).round() / 64
    return frames, masks


def run_training_network(stcn, frames, gt, sec_gt, selector):
    """`STCNModel.do_pass` (multi-object branch) on CPU, with hooks on readouts and decoder."""
    readouts, object_logits = [], []
    original_readout = stcn.memory.readout

    def readout(affinity, mv, qv):
        out = original_readout(affinity, mv, qv)
        readouts.append(out[:, : mv.shape[1]].detach().clone())
        return out

    stcn.memory.readout = readout
    hook = stcn.decoder.register_forward_hook(
        lambda _m, _i, out: object_logits.append(out[0].detach().clone())
    )
    k16, kf16_thin, kf16, kf8, kf4 = stcn("encode_key", frames)
    ref_v1 = stcn("encode_value", frames[:, 0], kf16[:, 0], gt[:, 0], sec_gt[:, 0])
    ref_v2 = stcn("encode_value", frames[:, 0], kf16[:, 0], sec_gt[:, 0], gt[:, 0])
    ref_v = torch.stack([ref_v1, ref_v2], 1)
    logits1, mask1, boundary1 = stcn(
        "segment", k16[:, :, 1], kf16_thin[:, 1], kf8[:, 1], kf4[:, 1], k16[:, :, 0:1], ref_v,
        selector,
    )  # fmt: skip
    prev_v1 = stcn("encode_value", frames[:, 1], kf16[:, 1], mask1[:, 0:1], mask1[:, 1:2])
    prev_v2 = stcn("encode_value", frames[:, 1], kf16[:, 1], mask1[:, 1:2], mask1[:, 0:1])
    values = torch.cat([ref_v, torch.stack([prev_v1, prev_v2], 1)], 3)
    logits2, mask2, boundary2 = stcn(
        "segment", k16[:, :, 2], kf16_thin[:, 2], kf8[:, 2], kf4[:, 2], k16[:, :, 0:2], values,
        selector,
    )  # fmt: skip
    hook.remove()
    stcn.memory.readout = original_readout
    object_logits_1 = torch.cat(object_logits[0:2], 1)
    object_logits_2 = torch.cat(object_logits[2:4], 1)
    # A subset, to keep the file under 2 MB: the rest follows from these.
    return (
        {
            "key": k16,  # [B, 64, T, h, w]
            "query_value_2": kf16_thin[:, 2],  # [B, 512, h, w]
            "memory_value_0": ref_v,  # [B, N, 512, 1, h, w]
            "readout_1": torch.stack(readouts[0:2], 1),  # [B, N, 512, h, w]
            "readout_2": torch.stack(readouts[2:4], 1),
            "object_logits_1": object_logits_1,  # [B, N, H, W] before the selector/aggregation
            "object_logits_2": object_logits_2,
            "aggregated_2": logits2,  # [B, N+1, H, W]
            "prob_1": mask1,  # [B, N, H, W] after soft aggregation
            "prob_2": mask2,
            "boundary_1": boundary1,  # [B, N, H, W], times the selector
            "boundary_2": boundary2,
        },
        {"aggregated_1": logits1},
    )


def run_inference_network(eval_net, frames, gt):
    """`InferenceCore.interact` + `do_pass` (top-k memory, every frame a memory frame) for
    sample 0 on CPU: per-frame readouts and background-first probabilities."""
    from inference_memory_bank import MemoryBank
    from model.aggregate import aggregate

    bank = MemoryBank(k=OBJECTS, top_k=TOP_K)
    masks = gt[0, 0].unsqueeze(1)  # [N, 1, H, W]
    prob0 = aggregate(masks, keep_bg=True)
    key, _, qf16, _, _ = eval_net.encode_key(frames[0, 0:1])
    bank.add_memory(key.unsqueeze(2), eval_net.encode_value(frames[0, 0:1], qf16, prob0[1:]))
    out = {}
    for t in range(1, FRAMES):
        k16, qv16, qf16, qf8, qf4 = eval_net.encode_key(frames[0, t : t + 1])
        readout = bank.match_memory(k16).clone()  # [N, 512, h, w]
        sigmoid = eval_net.segment_with_query(bank, qf8, qf4, k16, qv16)  # [N, 1, H, W]
        prob = aggregate(sigmoid, keep_bg=True)  # [N+1, 1, H, W]
        if t == FRAMES - 1:  # frame 2 reads 40 memory positions, top-3 of them
            out.update(eval_readout_2=readout, eval_sigmoid_2=sigmoid, eval_prob_2=prob)
        if t + 1 < FRAMES:
            value = eval_net.encode_value(frames[0, t : t + 1], qf16, prob[1:])
            bank.add_memory(k16.unsqueeze(2), value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--original", type=Path, required=True, help="checkout of workforai/GSFM")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "golden")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    patch_original(args.original)
    from model.eval_network import STCN as EvalSTCN  # noqa: N811
    from model.losses import LossComputer
    from model.network import STCN
    from util.tensor_util import pad_divide_by

    torch.manual_seed(SEED)
    stcn = STCN(single_object=False).eval()
    layout = {k: list(v.shape) for k, v in stcn.state_dict().items()}
    state = seeded_state(layout, SEED)
    stcn.load_state_dict(state, strict=True)
    eval_net = EvalSTCN().eval()
    eval_net.load_state_dict(state, strict=True)

    gen = torch.Generator().manual_seed(SEED)
    raw_frames, raw_masks = make_clip(gen)
    frames, pads = pad_divide_by(raw_frames, 16)
    masks, _ = pad_divide_by(raw_masks, 16)
    gt, sec_gt = masks[:, :, 0:1], masks[:, :, 1:2]  # [B, T, 1, H, W] as the original's data
    selector = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    cls_gt = (gt[:, :, 0] + 2 * sec_gt[:, :, 0]).long()  # [B, T, H, W], 0 = background

    with torch.no_grad():
        out, extra = run_training_network(stcn, frames, gt, sec_gt, selector)
        data = {"gt": gt, "sec_gt": sec_gt, "cls_gt": cls_gt, "selector": selector}
        for i in (1, 2):
            data[f"logits_{i}"] = {**out, **extra}[f"aggregated_{i}"]
            data[f"boundary_{i}"] = out[f"boundary_{i}"]
            data[f"mask_{i}"] = out[f"prob_{i}"][:, 0:1]
            data[f"sec_mask_{i}"] = out[f"prob_{i}"][:, 1:2]
        losses = LossComputer(LOSS_PARA).compute(data, LOSS_ITERATION)
        loss_warmup = LossComputer(LOSS_PARA).compute(data, 0)
        out.update(run_inference_network(eval_net, frames, masks))
    commit = subprocess.run(
        ["git", "--git-dir=/work/.mirror/workforai+GSFM/repo", "rev-parse", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    golden = {
        "inputs": {
            "frames": raw_frames.half(),  # exact: multiples of 1/64
            "masks": raw_masks.bool(),
            "selector": selector,
        },
        "pads": torch.tensor(pads),
        "outputs": {k: v.float().contiguous() for k, v in out.items()},
        "loss_total": losses["total_loss"].detach().double(),
        "loss_frames": torch.stack([losses["loss_1"], losses["loss_2"]]).double(),
        "loss_total_warmup": loss_warmup["total_loss"].detach().double(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(golden, args.out / "original_outputs.pt")
    meta = {
        "original_commit": commit,
        "seed": SEED,
        "top_k": TOP_K,
        "loss_para": LOSS_PARA,
        "loss_iteration": LOSS_ITERATION,
        "layout": layout,
    }
    (args.out / "original_layout.json").write_text(json.dumps(meta, indent=0) + "\n")
    for k, v in out.items():
        log.info("%-18s %-22s max|x| %.4g", k, tuple(v.shape), float(v.abs().max()))
    total, warm = float(losses["total_loss"]), float(loss_warmup["total_loss"])
    log.info("loss total %.6f (warm-up %.6f)", total, warm)


if __name__ == "__main__":
    main()
