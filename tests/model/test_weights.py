"""Weight loading: original layout, own format, torchvision files, and every clear error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gsfm.errors import WeightsError
from gsfm.model.backbone import BLOCKS, ResNetTrunk
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config
from gsfm.model.weights import (
    expand_single_object,
    init_from_torchvision,
    load_network,
    save_network,
)
from tests import reference
from tests.model.conftest import random_original_state


def forward(net: GSFM) -> torch.Tensor:
    torch.manual_seed(1)
    x = torch.rand(1, 3, 48, 64)
    with torch.inference_mode():
        k = net.eval().encode_key(x)
        v = net.encode_value(x, k.f16, torch.rand(1, 2, 48, 64))
        logits, _ = reference.segment(net, k, k.key.unsqueeze(2), v.unsqueeze(3), top_k=10)
    return logits


@pytest.fixture(scope="module")
def original_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("orig") / "GSFM.pth"
    torch.save({"network": random_original_state(), "it": 3}, path)
    return path


def test_original_layout_loads_strictly_and_round_trips(original_file: Path, tmp_path: Path):
    net, info = load_network(original_file)
    assert info.variant == "gsfm" and info.format.startswith("original")
    state = random_original_state()
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k]), k
    out = forward(net)
    saved = save_network(net, tmp_path / "copy.safetensors", {"note": "round trip"})
    assert saved.with_suffix(".yaml").is_file()
    net2, info2 = load_network(saved)
    assert info2.variant == "gsfm" and info2.metadata["note"] == "round trip"
    assert torch.equal(forward(net2), out)


def test_the_sidecar_is_never_read(tmp_path: Path) -> None:
    net = GSFM(get_config("gsfm-tiny"))
    path = save_network(net, tmp_path / "t.safetensors", {"note": "kept"})
    assert '"variant": "gsfm-tiny"' in path.with_suffix(".yaml").read_text()
    path.with_suffix(".yaml").write_text("config: {variant: gsfm}\n: not yaml [")
    net2, info = load_network(path)
    assert info.variant == "gsfm-tiny" and info.metadata["note"] == "kept"
    assert torch.equal(forward(net2), forward(net))


def test_safetensors_without_sidecar_uses_metadata(tmp_path: Path) -> None:
    net = GSFM(get_config("gsfm-tiny"))
    path = save_network(net, tmp_path / "t.safetensors")
    path.with_suffix(".yaml").unlink()
    net2, info = load_network(path)
    assert info.variant == "gsfm-tiny"
    assert torch.equal(forward(net2), forward(net))


def test_ddp_prefix_and_bare_state_dict(tmp_path: Path) -> None:
    state = {"module." + k: v for k, v in random_original_state(1).items()}
    torch.save(state, tmp_path / "ddp.pth")
    net, _ = load_network(tmp_path / "ddp.pth")
    assert torch.equal(net.lfm.conv1.weight, random_original_state(1)["lfm.conv1.weight"])


def test_stage0_checkpoint_is_recognised_and_expanded(tmp_path: Path) -> None:
    state = random_original_state()
    state["value_encoder.conv1.weight"] = state["value_encoder.conv1.weight"][:, :4].clone()
    torch.save(state, tmp_path / "s0.pth")
    net, info = load_network(tmp_path / "s0.pth")
    assert info.single_object and net.config.single_object
    expanded = expand_single_object(state)
    assert expanded["value_encoder.conv1.weight"].shape[1] == 5
    new = expanded["value_encoder.conv1.weight"][:, 4:].reshape(64, -1)  # [64, 49]
    assert torch.allclose(new.T @ new, torch.eye(49), atol=1e-5)  # orthonormal columns
    assert torch.equal(
        expanded["value_encoder.conv1.weight"][:, :4], state["value_encoder.conv1.weight"]
    )
    GSFM(get_config("gsfm")).load_state_dict(expanded, strict=True)


def _save(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "bad.pth"
    torch.save({"network": state}, path)
    return path


def test_missing_key_error(tmp_path: Path) -> None:
    state = random_original_state()
    del state["decoder.hfm.conv1.weight"]
    with pytest.raises(WeightsError, match=r"1 missing keys: decoder\.hfm\.conv1\.weight"):
        load_network(_save(tmp_path, state))


def test_extra_key_error(tmp_path: Path) -> None:
    state = random_original_state()
    state["decoder.extra.weight"] = torch.zeros(3)
    with pytest.raises(WeightsError, match=r"1 unexpected keys: decoder\.extra\.weight"):
        load_network(_save(tmp_path, state))


def test_wrong_shape_error(tmp_path: Path) -> None:
    state = random_original_state()
    state["key_comp.weight"] = torch.zeros(256, 1024, 3, 3)
    with pytest.raises(WeightsError, match=r"mis-shaped keys: key_comp\.weight \(256"):
        load_network(_save(tmp_path, state))


def test_many_problems_are_summarised(tmp_path: Path) -> None:
    state = {k: v for k, v in random_original_state().items() if not k.startswith("decoder.")}
    with pytest.raises(WeightsError, match=r"\d+ missing keys: .*\(\+\d+ more\)"):
        load_network(_save(tmp_path, state))


def test_truncated_file_error(original_file: Path, tmp_path: Path) -> None:
    data = original_file.read_bytes()
    bad = tmp_path / "trunc.pth"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated, corrupt or not a checkpoint"):
        load_network(bad)


def test_truncated_safetensors_error(tmp_path: Path) -> None:
    path = save_network(GSFM(get_config("gsfm-tiny")), tmp_path / "w.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(WeightsError, match=r"cannot read .* as safetensors"):
        load_network(path)


def test_non_checkpoint_file_error(tmp_path: Path) -> None:
    bad = tmp_path / "notes.pth"
    bad.write_text("these are not weights\n")
    with pytest.raises(WeightsError, match="cannot read"):
        load_network(bad)
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(WeightsError, match="no state dict of tensors"):
        load_network(tmp_path / "list.pth")


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        load_network(tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="unknown variant"):
        load_network("random:gsfm-huge")


def test_variant_mismatch_error(original_file: Path) -> None:
    with pytest.raises(WeightsError, match="gsfm-tiny"):
        load_network(original_file, variant="gsfm-tiny")


def torchvision_state(arch: str) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's ResNet keys/shapes (no conv biases, layer4, fc)."""
    trunk = ResNetTrunk(arch, bias=False)
    state = {k: torch.randn_like(v.float()) for k, v in trunk.state_dict().items()}
    block, _ = BLOCKS[arch]
    cin = 1024 if arch == "resnet50" else 256
    layer4 = torch.nn.Sequential(block(cin, 512, 2, bias=False))
    state.update({f"layer4.{k}": v for k, v in layer4.state_dict().items()})
    state["fc.weight"] = torch.randn(1000, 512 * block.expansion)
    state["fc.bias"] = torch.randn(1000)
    return state


def test_torchvision_resnets_initialise_backbones(tmp_path: Path) -> None:
    r50, r18 = torchvision_state("resnet50"), torchvision_state("resnet18")
    torch.save(r50, tmp_path / "resnet50.pth")
    torch.save(r18, tmp_path / "resnet18.pth")
    net, info = load_network(tmp_path / "resnet50.pth", variant="gsfm")
    assert info.metadata["initialised"] == "key_encoder"
    assert torch.equal(net.key_encoder.res2[0].conv1.weight, r50["layer1.0.conv1.weight"])
    assert net.key_encoder.layer3[2].conv2.bias.abs().sum() == 0
    net, info = load_network(tmp_path / "resnet18.pth", variant="gsfm")
    assert info.metadata["initialised"] == "value_encoder"
    w = net.value_encoder.conv1.weight
    assert torch.equal(w[:, :3], r18["conv1.weight"])
    extra = w[:, 3:].detach().reshape(64, -1)  # 2 mask channels: [64, 98], orthonormal rows
    assert torch.allclose(extra @ extra.T, torch.eye(64), atol=1e-5)
    single = GSFM(replace(get_config("gsfm"), single_object=True))
    assert init_from_torchvision(single, r18, "r18") == ["value_encoder"]
    extra = single.value_encoder.conv1.weight[:, 3:].detach().reshape(64, -1)  # [64, 49]
    assert torch.allclose(extra.T @ extra, torch.eye(49), atol=1e-5)  # orthonormal columns
    assert net.value_encoder.layer2[0].downsample[0].bias.abs().sum() == 0
    with pytest.raises(WeightsError, match="fits no encoder of the gsfm-tiny network"):
        load_network(tmp_path / "resnet50.pth", variant="gsfm-tiny")


def test_saved_weights_get_the_usual_file_mode(tmp_path):
    """Atomic writes go through a 0600 temp file; the result must be readable as usual."""
    import os

    umask = os.umask(0)
    os.umask(umask)
    path = save_network(GSFM(get_config("gsfm-tiny")), tmp_path / "w.safetensors")
    for written in (path, path.with_suffix(".yaml")):
        assert written.stat().st_mode & 0o777 == 0o666 & ~umask, written
