"""Training flags generated from TrainConfig: every field has one, values reach the config."""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import fields

import pytest

from gsfm.errors import InputError
from gsfm.train.config import TrainConfig
from gsfm.train.options import NO_FLAG, add_arguments, config_from_args


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_every_field_has_a_flag_with_its_name_as_dest():
    defaults = vars(parse())
    for f in fields(TrainConfig):
        assert (f.name in defaults) == (f.name not in NO_FLAG), f.name


def test_values_reach_the_config_and_unset_ones_keep_the_recipe():
    args = parse(
        "--stage", "3", "--iterations", "300", "--weight-decay", "0.5", "--milestones", "10",
        "20", "--data", "synthetic", "--data", "x", "--no-tensorboard", "--device", "mps",
        "--workers", "0",
    )  # fmt: skip
    cfg, payload = config_from_args(args)
    assert payload is None and cfg.stage == 3 and cfg.run_id == "stage3"
    assert cfg.weight_decay == 0.5 and cfg.milestones == (10, 20)
    assert cfg.data == ("synthetic", "x") and cfg.tensorboard is False and cfg.device == "mps"
    assert cfg.batch_size == 8 and cfg.objects == 2  # stage 3 recipe
    assert cfg.end_warm == round(15_000 * 300 / 30_000)  # scaled with --iterations
    assert cfg.freeze_bn is False  # from scratch
    assert config_from_args(parse("--stage", "0", "--load-network", "w"))[0].freeze_bn


def test_stage_is_required_without_a_checkpoint():
    with pytest.raises(InputError, match="--stage is required"):
        config_from_args(parse())


def test_train_entry_point_does_not_import_the_cli():
    code = (
        "import sys, gsfm.train.__main__; "
        "sys.exit(any(m.startswith('gsfm.cli') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
