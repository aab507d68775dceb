from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import default_collate

from gsfm.model.weights import load_network
from gsfm.train.checkpoint import load_checkpoint
from gsfm.train.distributed import DistContext
from gsfm.train.sampling import SampleKey
from gsfm.train.sources import build_dataset
from gsfm.train.trainer import Trainer

from .conftest import tiny_config


def test_a_few_steps_on_one_batch_lower_the_loss(tmp_path: Path, static_folder: Path):
    cfg = tiny_config(
        tmp_path, static_folder, iterations=100, lr=1e-3, start_warm=100, end_warm=100
    )
    trainer = Trainer(cfg, DistContext())
    ds = build_dataset(cfg)
    batch = default_collate([ds[SampleKey(i, i, 0)] for i in range(2)])
    losses = [trainer.step(batch).parts["total"] for _ in range(12)]
    assert losses[-1] < 0.6 * losses[0], losses


def _losses(trainer: Trainer, stop: int) -> list[float]:
    out = []
    for batch in trainer.loader():
        out.append(trainer.step(batch).parts["total"])
        if trainer.iteration == stop:
            break
    return out


def test_resume_gives_the_same_next_losses_bit_identical(tmp_path: Path, static_folder: Path):
    cfg = tiny_config(
        tmp_path, static_folder, iterations=4, lr=1e-3, milestones=[2], start_warm=1, end_warm=3
    )
    full = Trainer(replace(cfg, run_id="full"), DistContext())
    full_losses = _losses(full, 4)

    first = Trainer(replace(cfg, run_id="part"), DistContext())
    assert _losses(first, 2) == full_losses[:2]
    first.save()
    payload = load_checkpoint(first.checkpoint_path)
    assert payload["iteration"] == 2 and payload["commit"]
    torch.manual_seed(123)  # resuming must not depend on the global RNG at hand
    resumed = Trainer(replace(cfg, run_id="part"), DistContext(), resume=payload)
    assert resumed.iteration == 2
    assert _losses(resumed, 4) == full_losses[2:]
    a, b = full.net.state_dict(), resumed.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.scheduler.get_last_lr() == full.scheduler.get_last_lr()


def test_run_saves_weights_and_checkpoint(tmp_path: Path, static_folder: Path):
    cfg = tiny_config(tmp_path, static_folder, iterations=3, save_every=2, tensorboard=True)
    trainer = Trainer(cfg, DistContext())
    trainer.run()
    run_dir = tmp_path / "saves" / "t"
    names = sorted(p.name for p in run_dir.iterdir())
    assert "t_2.safetensors" in names and "t_3.safetensors" in names
    assert "t_2.yaml" in names and "t_checkpoint.pth" in names and "tensorboard" in names
    assert not [n for n in names if n.endswith(".tmp")]
    _, info = load_network(run_dir / "t_3.safetensors")
    assert info.variant == "gsfm-tiny" and info.single_object
    assert info.metadata["iteration"] == 3 and info.metadata["stage"] == 0
    assert load_checkpoint(run_dir / "t_checkpoint.pth")["iteration"] == 3


def test_stage3_starts_from_stage0_weights(tmp_path: Path, static_folder: Path, video_root):
    s0 = tiny_config(tmp_path, static_folder, iterations=1)
    Trainer(s0, DistContext()).run()
    weights = tmp_path / "saves" / "t" / "t_1.safetensors"
    s3 = tiny_config(
        tmp_path, video_root, stage=3, iterations=2, load_network=str(weights), run_id="s3"
    )
    trainer = Trainer(s3, DistContext())
    w = trainer.net.value_encoder.conv1.weight
    assert w.shape[1] == 5
    new = w[:, 4].detach().reshape(w.shape[0], -1)  # the other-objects channel: orthogonal
    gram = new @ new.T if new.shape[0] <= new.shape[1] else new.T @ new
    assert torch.allclose(gram, torch.eye(gram.shape[0]), atol=1e-5)
    trainer.run()
    _, info = load_network(tmp_path / "saves" / "s3" / "s3_2.safetensors")
    assert not info.single_object


def test_frozen_bn_keeps_its_statistics_through_steps():
    from torch import nn

    from gsfm.train.trainer import set_train_mode

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    set_train_mode(net, freeze_bn=True)
    before = net[1].running_mean.clone()
    net(torch.randn(2, 3, 8, 8) + 5)
    assert torch.equal(net[1].running_mean, before) and net[0].training
    set_train_mode(net, freeze_bn=False)
    net(torch.randn(2, 3, 8, 8) + 5)
    assert not torch.equal(net[1].running_mean, before)
