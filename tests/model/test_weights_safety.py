"""Hostile weights files: NaN/Inf tensors and malformed configs are refused in one line,
before any network of the size the file claims is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import gsfm.model.weights as weights
from gsfm.cli import main
from gsfm.errors import WeightsError
from gsfm.model.network import GSFM
from gsfm.model.variants import ModelConfig, get_config, validate_config
from gsfm.model.weights import FORMAT_TAG, load_network, save_network


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {k: v.clone() for k, v in GSFM(get_config("gsfm-tiny")).state_dict().items()}


def _write(path: Path, state: dict[str, torch.Tensor], config: object, raw: str | None = None):
    """A .safetensors with `config` (or the `raw` text) as its config metadata, no sidecar."""
    text = raw if raw is not None else json.dumps(config)
    save_file(state, str(path), metadata={"format": FORMAT_TAG, "config": text, "info": "{}"})
    return path


@pytest.fixture
def real_builds(monkeypatch: pytest.MonkeyPatch) -> list[ModelConfig]:
    """The configs of networks `weights` builds with real (non-meta) tensors."""
    built: list[ModelConfig] = []

    class Spy(GSFM):
        def __init__(self, config: ModelConfig) -> None:
            if torch.empty(0).device.type != "meta":
                built.append(config)
            super().__init__(config)

    monkeypatch.setattr(weights, "GSFM", Spy)
    return built


def test_nan_and_inf_weights_are_refused_with_their_names(tmp_path: Path, tiny_state):
    state = dict(tiny_state)
    names = sorted(k for k, v in state.items() if v.is_floating_point())
    first, second = names[3], names[10]
    state[first] = state[first].clone()
    state[first].view(-1)[0] = float("nan")
    state[second] = state[second].clone()
    state[second].view(-1)[-1] = float("-inf")
    tiny = get_config("gsfm-tiny").to_dict()
    path = _write(tmp_path / "nan.safetensors", state, tiny)
    with pytest.raises(WeightsError, match="NaN or infinite values in 2 tensor") as err:
        load_network(path)
    assert first in str(err.value) and second in str(err.value)
    torch.save({"network": state}, tmp_path / "nan.pth")  # the .pth route too
    with pytest.raises(WeightsError, match=f"NaN or infinite values in 2 tensor.*{first}"):
        load_network(tmp_path / "nan.pth")


def test_finite_weights_still_load(tmp_path: Path, tiny_state):
    path = _write(tmp_path / "ok.safetensors", tiny_state, get_config("gsfm-tiny").to_dict())
    net, info = load_network(path)
    assert info.variant == "gsfm-tiny"
    assert all(torch.equal(v, tiny_state[k]) for k, v in net.state_dict().items())


BAD_CONFIGS = [
    ({"value_dim": 10**7}, "value_dim must be an integer in 1..2048"),
    ({"value_dim": -5}, "value_dim must be an integer"),
    ({"key_dim": "64"}, "key_dim must be an integer"),
    ({"key_width": 32.0}, "key_width must be an integer"),
    ({"key_width": True}, "key_width must be an integer"),
    ({"key_backbone": "resnet152"}, "key_backbone must be one of"),
    ({"value_backbone": None}, "value_backbone must be one of"),
    ({"decoder_dims": [64]}, "decoder_dims must be two integers"),
    ({"decoder_dims": 64}, "decoder_dims must be two integers"),
    ({"decoder_dims": [64, 10**6]}, "decoder_dims must be two integers"),
    ({"spectral_sigma": float("nan")}, "spectral_sigma must be a number"),
    ({"spectral_sigma": "7"}, "spectral_sigma must be a number"),
    ({"single_object": "yes"}, "single_object must be true or false"),
    ({"variant": 3}, "variant must be a short name"),
    ({"colour": "blue"}, "unknown model config fields"),
]


@pytest.mark.parametrize(("change", "message"), BAD_CONFIGS)
def test_malformed_config_fields_are_refused_before_building(
    tmp_path: Path, tiny_state, real_builds, change, message
):
    config = {**get_config("gsfm-tiny").to_dict(), **change}
    path = _write(tmp_path / "bad.safetensors", tiny_state, config)
    with pytest.raises(WeightsError, match=f"bad model config for .*: {message}"):
        load_network(path)
    assert real_builds == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{not json", "bad model config in the metadata"), ("[1, 2]", "must be a mapping")],
)
def test_config_that_is_not_a_json_object_is_refused(tmp_path: Path, tiny_state, raw, message):
    with pytest.raises(WeightsError, match=message):
        load_network(_write(tmp_path / "bad.safetensors", tiny_state, None, raw=raw))


def test_config_in_bounds_but_not_the_files_shapes_builds_nothing(
    tmp_path: Path, tiny_state, real_builds
):
    big = {**get_config("gsfm").to_dict(), "value_dim": 2048, "key_width": 256}
    path = _write(tmp_path / "liar.safetensors", tiny_state, big)
    with pytest.raises(WeightsError, match=r"does not fit its gsfm config: .*mis-shaped keys"):
        load_network(path)
    assert real_builds == []


def test_yaml_sidecar_is_never_read(tmp_path: Path):
    """The metadata is the one source of the config: a hostile sidecar changes nothing."""
    net = GSFM(get_config("gsfm-tiny"))
    path = save_network(net, tmp_path / "w.safetensors")
    path.with_suffix(".yaml").write_text("config:\n  value_dim: 10000000\n- not yaml: [\n")
    loaded, info = load_network(path)
    assert info.variant == "gsfm-tiny"
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in loaded.state_dict().items())


def test_info_on_a_huge_config_is_one_line_and_builds_nothing(
    tmp_path: Path, tiny_state, real_builds, capsys
):
    config = {**get_config("gsfm-tiny").to_dict(), "value_dim": 10**7}
    path = _write(tmp_path / "huge.safetensors", tiny_state, config)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "value_dim must be an integer in 1..2048" in err[0]
    assert real_builds == []


def test_validate_config_accepts_both_variants():
    for name in ("gsfm", "gsfm-tiny"):
        for single in (False, True):
            config = get_config(name, single_object=single)
            assert validate_config(config.to_dict()) == config


class _Payload:
    """Unpickling this would create a file: a stand-in for arbitrary code in a .pth."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "executed"))


def test_pickled_code_in_weights_and_checkpoints_never_runs(tmp_path: Path):
    from gsfm.train.checkpoint import load_checkpoint

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"network": {"w": torch.zeros(1)}, "x": _Payload(marker)}, evil)
    with pytest.raises(WeightsError, match="cannot read"):
        load_network(evil)
    with pytest.raises(WeightsError, match="cannot read"):
        load_checkpoint(evil)
    assert not marker.exists()
