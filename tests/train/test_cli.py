from __future__ import annotations

from pathlib import Path

import pytest

from gsfm.cli import main
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.model.weights import save_network


def _train(*args: str) -> int:
    return main(["train", "--threads", "1", "--no-tensorboard", *args])


def test_load_network_of_another_variant_is_a_clear_error(tmp_path: Path, capsys, video_root):
    weights = save_network(GSFM(get_config("gsfm-tiny", single_object=True)), tmp_path / "w")
    code = _train(
        "--stage",
        "3",
        "--variant",
        "gsfm",
        "--load-network",
        str(weights),
        "--data",
        str(video_root),
        "--saves",
        str(tmp_path / "s"),
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "holds a gsfm-tiny network but this run trains gsfm" in err
    assert "Traceback" not in err


def test_stage0_from_multi_object_weights_is_refused(tmp_path: Path, capsys, static_folder):
    weights = save_network(GSFM(get_config("gsfm-tiny")), tmp_path / "w")
    code = _train(
        "--stage",
        "0",
        "--variant",
        "gsfm-tiny",
        "--load-network",
        str(weights),
        "--data",
        str(static_folder),
        "--saves",
        str(tmp_path / "s"),
    )
    assert code == 2
    assert "multi-object" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--stage is required"),
        (["--load-model", "nowhere.pth"], "not found"),
        (["--stage", "0", "--size", "50"], "multiple of 16"),
    ],
)
def test_bad_options(args: list[str], message: str, capsys):
    assert _train(*args) == 2
    assert message in capsys.readouterr().err


def test_load_model_wants_a_training_checkpoint(tmp_path: Path, capsys):
    weights = save_network(GSFM(get_config("gsfm-tiny")), tmp_path / "w")
    import torch

    torch.save(GSFM(get_config("gsfm-tiny")).state_dict(), tmp_path / "w.pth")
    assert _train("--load-model", str(tmp_path / "w.pth")) == 2
    assert "not a gsfm training checkpoint" in capsys.readouterr().err
    assert weights.is_file()


def test_cli_trains_and_resumes(tmp_path: Path, static_folder: Path):
    saves = tmp_path / "s"
    common = ["--saves", str(saves), "--log-every", "1"]
    assert (
        _train(
            "--stage",
            "0",
            "--id",
            "c",
            "--variant",
            "gsfm-tiny",
            "--size",
            "64",
            "--batch-size",
            "2",
            "--iterations",
            "2",
            "--data",
            str(static_folder),
            *common,
        )
        == 0
    )
    ckpt = saves / "c" / "c_checkpoint.pth"
    assert ckpt.is_file() and (saves / "c" / "c_2.safetensors").is_file()
    # resuming a finished run does nothing and succeeds
    assert _train("--load-model", str(ckpt), *common) == 0
