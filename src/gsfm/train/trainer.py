"""The training loop: network set-up, DDP, optimiser/schedule, logging, saving, resuming.

Run by `gsfm train` / `python -m gsfm.train`, alone or under `torchrun`. Rank 0 logs (progress
bar, log lines, TensorBoard) and saves; every rank computes. Saves go to `saves/NAME/`:
`NAME_<it>.safetensors` (+ .yaml) network-only weights and `NAME_checkpoint.pth` (everything
needed to resume exactly), both written atomically.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from gsfm.errors import WeightsError
from gsfm.model.image import normalize
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.model.weights import (
    expand_single_object,
    init_from_torchvision,
    is_torchvision_resnet,
    layout_problems,
    load_network,
    read_torch_file,
    save_network,
)
from gsfm.train import checkpoint as ckpt
from gsfm.train import distributed
from gsfm.train.config import TrainConfig
from gsfm.train.distributed import DistContext, broadcast_buffers
from gsfm.train.losses import GSFMLoss, LossTerms
from gsfm.train.sampling import StreamSampler
from gsfm.train.sequence import SequenceModel
from gsfm.train.sources import build_dataset

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- network


def build_network(cfg: TrainConfig) -> GSFM:
    """The network a run starts from: fresh (optionally ImageNet backbones) or --load-network."""
    net = GSFM(get_config(cfg.variant, single_object=cfg.single_object))
    if cfg.load_network:
        _load_weights(net, cfg.load_network)
    for path in (cfg.imagenet_r50, cfg.imagenet_r18):
        if path:
            state = read_torch_file(Path(path))
            if not is_torchvision_resnet(state):
                raise WeightsError(f"{path} is not a torchvision ResNet ImageNet state dict")
            done = init_from_torchvision(net, state, path)
            log.info("initialised %s from %s", " and ".join(done), path)
    return net


def _load_weights(net: GSFM, source: str) -> None:
    """Load --load-network weights into `net`, expanding stage-0 weights for stage 3."""
    want = net.config
    loaded, info = load_network(source)
    if info.format.startswith("torchvision"):
        raise WeightsError(
            f"--load-network {source} is a torchvision ImageNet ResNet; pass it with "
            "--imagenet-r50 / --imagenet-r18 instead"
        )
    have = loaded.config
    if have.variant != want.variant:
        raise WeightsError(
            f"--load-network {source} holds a {have.variant} network but this run trains "
            f"{want.variant}; pass --variant {have.variant} or other weights"
        )
    state = loaded.state_dict()
    if have.single_object and not want.single_object:
        state = expand_single_object(state)  # stage-0 weights into the multi-object network
    elif want.single_object and not have.single_object:
        raise WeightsError(
            f"--load-network {source} holds a multi-object (stage-3) network; stage 0 trains "
            "the single-object network, so start it from scratch or from stage-0 weights"
        )
    problems = layout_problems(state, net.state_dict())
    if problems:
        raise WeightsError(
            f"--load-network {source} does not fit the {want.variant} network: "
            + "; ".join(problems)
        )
    net.load_state_dict(state, strict=True)
    log.info("started from %s (%s)", source, info.format)


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """Train mode, with BatchNorm in eval mode (frozen statistics) when asked."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


# ----------------------------------------------------------------------------- trainer


class Trainer:
    """One training run (one process of it under torchrun)."""

    def __init__(
        self, cfg: TrainConfig, ctx: DistContext, resume: dict[str, Any] | None = None
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.device = ctx.device
        self.amp = cfg.amp and self.device.type == "cuda"
        if cfg.amp and not self.amp:
            log.info("mixed precision is CUDA-only: training in fp32 on %s", self.device)
        torch.manual_seed(cfg.seed)  # the same initial network on every rank
        if resume is not None:
            self.net = GSFM(get_config(cfg.variant, single_object=cfg.single_object))
        else:
            self.net = build_network(cfg)
        # channels_last: oneDNN convolutions (CPU) run ~2x faster forward+backward in it.
        self.net.to(self.device, memory_format=torch.channels_last)
        self.model: nn.Module = SequenceModel(self.net)
        if ctx.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.Adam(
            [p for p in self.net.parameters() if p.requires_grad],
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(
            self.optimizer, list(cfg.milestones), cfg.gamma
        )
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.loss = GSFMLoss(cfg.start_warm, cfg.end_warm, cfg.top_p, cfg.boundary_weight)
        self.iteration = 0
        self.commit = ckpt.git_commit()
        self.run_dir = Path(cfg.saves) / cfg.run_id
        if resume is not None:
            self._restore(resume)

    # -- state

    def state(self) -> dict[str, Any]:
        return {
            "network": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": _plain_scheduler_state(self.scheduler.state_dict()),
            "scaler": self.scaler.state_dict(),
            "iteration": self.iteration,
            "rng": ckpt.rng_state(),
            "config": self.cfg.to_dict(),
            "commit": self.commit,
            "world_size": self.ctx.world_size,
            "variant": self.cfg.variant,
        }

    def _restore(self, payload: dict[str, Any]) -> None:
        problems = layout_problems(payload["network"], self.net.state_dict())
        if problems:
            raise WeightsError("checkpoint network does not fit: " + "; ".join(problems))
        self.net.load_state_dict(payload["network"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.scheduler.milestones = Counter(self.scheduler.milestones)
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        self.iteration = int(payload["iteration"])
        ckpt.set_rng_state(payload["rng"])
        if payload.get("world_size", 1) != self.ctx.world_size:
            log.warning(
                "checkpoint was written by %d process(es), resuming with %d: the data stream "
                "differs from an uninterrupted run",
                payload.get("world_size", 1),
                self.ctx.world_size,
            )
        log.info(
            "resumed at iteration %d (code of checkpoint: %s)",
            self.iteration,
            payload.get("commit", "?"),
        )

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / f"{self.cfg.run_id}_checkpoint.pth"

    def weights_path(self, iteration: int) -> Path:
        return self.run_dir / f"{self.cfg.run_id}_{iteration}.safetensors"

    def save(self) -> None:
        """Network-only weights for this iteration, then the full checkpoint (rank 0)."""
        if not self.ctx.is_main:
            return
        info = {
            "run": self.cfg.run_id,
            "stage": self.cfg.stage,
            "iteration": self.iteration,
            "commit": self.commit,
            "data": ",".join(self.cfg.data),
        }
        save_network(self.net, self.weights_path(self.iteration), info=info)
        ckpt.save_checkpoint(self.checkpoint_path, self.state())
        log.info("saved %s and %s", self.weights_path(self.iteration), self.checkpoint_path)

    # -- data

    def loader(self) -> DataLoader:
        dataset = build_dataset(self.cfg)
        sampler = StreamSampler(
            len(dataset),
            self.cfg.batch_size,
            self.cfg.seed,
            start_iteration=self.iteration,
            end_iteration=self.cfg.iterations,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
        )
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=self.cfg.workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_worker_init,
            persistent_workers=False,
            prefetch_factor=4 if self.cfg.workers > 0 else None,
        )

    def to_device(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        frames = batch["frames"].to(self.device, non_blocking=True)
        frames = normalize(frames.float().div_(255.0))
        masks = batch["masks"].to(self.device, non_blocking=True).float()
        selector = batch["selector"].to(self.device, non_blocking=True).float()
        return frames, masks, selector

    # -- loop

    def step(self, batch: dict[str, Tensor]) -> LossTerms:
        """One optimiser step on one batch; advances the iteration counter."""
        set_train_mode(self.model, self.cfg.freeze_bn)
        frames, masks, selector = self.to_device(batch)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(frames, masks, selector)
        terms = self.loss(out.aggregated, out.boundaries, masks, selector, self.iteration)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms.total).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.iteration += 1
        return terms

    def run(self) -> None:
        """Train to `cfg.iterations`, saving every `save_every` and at the end; Ctrl-C saves a
        checkpoint at the last finished iteration, then raises KeyboardInterrupt."""
        cfg = self.cfg
        if self.iteration >= cfg.iterations:
            log.info("nothing to do: already at iteration %d of %d", self.iteration, cfg.iterations)
            return
        if self.ctx.is_main:
            self._describe()
        monitor = _Monitor(self, enabled=self.ctx.is_main)
        stop = _StopFlag()
        with stop.installed():
            try:
                for batch in self.loader():
                    terms = self.step(batch)
                    monitor.update(terms)
                    if self.iteration % cfg.save_every == 0 and self.iteration < cfg.iterations:
                        self.save()
                    if stop.requested(self.ctx):
                        raise KeyboardInterrupt
            except KeyboardInterrupt:
                monitor.close()
                log.warning("interrupted: saving a checkpoint at iteration %d", self.iteration)
                self.save()
                raise
        monitor.close()
        broadcast_buffers(self.net, self.ctx)
        self.save()
        if cfg.save_all_ranks:
            save_network(self.net, self.run_dir / f"rank{self.ctx.rank}.safetensors")

    def _describe(self) -> None:
        cfg = self.cfg
        params = sum(p.numel() for p in self.net.parameters())
        log.info(
            "stage %d (%s recipe), %s%s (%.2f M parameters) on %s x%d, %s BN, data %s",
            cfg.stage,
            cfg.recipe,
            cfg.variant,
            " single-object" if cfg.single_object else "",
            params / 1e6,
            self.device,
            self.ctx.world_size,
            "frozen" if cfg.freeze_bn else "updated",
            ",".join(cfg.data),
        )
        log.info(
            "%d iterations, batch %d per process, crop %d, lr %g (x%g at %s), bootstrap "
            "warm-up %d-%d, saves in %s",
            cfg.iterations,
            cfg.batch_size,
            cfg.size,
            cfg.lr,
            cfg.gamma,
            list(cfg.milestones),
            cfg.start_warm,
            cfg.end_warm,
            self.run_dir,
        )
        if self.device.type == "cpu" and cfg.size >= 256:
            log.info(
                "training on the CPU at %dx%d is slow; for a laptop run try --variant "
                "gsfm-tiny --size 128 --batch-size 8 (and --threads 1 if other jobs share the "
                "cores)",
                cfg.size,
                cfg.size,
            )


def _plain_scheduler_state(state: dict[str, Any]) -> dict[str, Any]:
    """MultiStepLR keeps its milestones in a Counter; a plain dict loads with weights_only."""
    state = dict(state)
    if "milestones" in state:
        state["milestones"] = dict(state["milestones"])
    return state


def _worker_init(_: int) -> None:
    """Data workers: one thread each (the main process owns the cores for compute)."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


class _StopFlag:
    """First Ctrl-C (or SIGTERM, which torchrun sends its workers when it is interrupted):
    stop at the end of the iteration, all ranks at the same one; a second one: at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.flag = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        try:
            previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        except ValueError:  # not the main thread: leave signals alone
            yield
            return
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True
        log.warning(
            "%s: stopping after this iteration (again to abort without saving)",
            signal.Signals(signum).name,
        )

    def requested(self, ctx: DistContext) -> bool:
        if not ctx.distributed:
            return self.flag
        flag = torch.tensor([float(self.flag)], device=ctx.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item() > 0)


class _Monitor:
    """Rank-0 progress bar, periodic log lines and TensorBoard scalars."""

    def __init__(self, trainer: Trainer, enabled: bool) -> None:
        self.trainer = trainer
        self.enabled = enabled
        self.bar = None
        self.writer = None
        self.window: list[float] = []
        self.ious: list[float] = []
        self.t0 = time.perf_counter()
        self.window_start = trainer.iteration
        if not enabled:
            return
        cfg = trainer.cfg
        self.bar = tqdm(
            total=cfg.iterations,
            initial=trainer.iteration,
            desc=f"{cfg.run_id} s{cfg.stage}",
            unit="it",
            dynamic_ncols=True,
            mininterval=1.0,
            disable=None,  # no bar when stderr is not a terminal (logs keep the log lines)
        )
        if cfg.tensorboard:
            # tensorboard (the [train] extra) takes seconds to import: only when logging
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(
                str(trainer.run_dir / "tensorboard"), purge_step=trainer.iteration
            )

    def update(self, terms: LossTerms) -> None:
        if not self.enabled:
            return
        tr = self.trainer
        it = tr.iteration
        self.window.append(terms.parts["total"])
        self.ious.append(terms.parts["iou"])
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(
                loss=f"{terms.parts['total']:.4f}", iou=f"{terms.parts['iou']:.3f}", refresh=False
            )
        if self.writer is not None:
            for name, value in terms.parts.items():
                self.writer.add_scalar(f"train/{name}", value, it)
            self.writer.add_scalar("train/lr", tr.scheduler.get_last_lr()[0], it)
            if tr.cfg.stage != 0:
                self.writer.add_scalar("train/max_skip", tr.cfg.max_skip(it - 1), it)
        if it % tr.cfg.log_every == 0 or it == tr.cfg.iterations:
            now = time.perf_counter()
            speed = (it - self.window_start) / max(now - self.t0, 1e-9)
            mean = sum(self.window) / max(1, len(self.window))
            log.info(
                "it %d/%d loss %.4f IoU %.3f lr %.3g p %.2f %.2f it/s",
                it,
                tr.cfg.iterations,
                mean,
                sum(self.ious) / max(1, len(self.ious)),
                tr.scheduler.get_last_lr()[0],
                terms.parts["p"],
                speed,
            )
            if self.writer is not None:
                self.writer.add_scalar("train/iterations_per_second", speed, it)
            self.window, self.ious, self.t0, self.window_start = [], [], now, it

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def train(cfg: TrainConfig, resume: dict[str, Any] | None = None) -> Path:
    """Run (or resume) training in this process; returns the run's folder."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    # Denormal floats (tiny activations/gradients late in training) make CPU math 10-100x
    # slower; flushing them to zero changes nothing measurable in the result.
    torch.set_flush_denormal(True)
    ctx = distributed.setup(cfg.device)
    finished = False
    try:
        trainer = Trainer(cfg, ctx, resume)
        trainer.run()
        finished = True
        return trainer.run_dir
    finally:
        distributed.cleanup(ctx, finished)  # barrier, then destroy (after a finished run)
