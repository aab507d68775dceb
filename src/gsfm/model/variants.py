"""Named network configurations. Both share all code; only sizes differ."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of a GSFM network. `single_object` is the stage-0 network (4-channel value input)."""

    variant: str = "gsfm"
    key_backbone: str = "resnet50"
    key_width: int = 64
    value_backbone: str = "resnet18"
    value_width: int = 64
    key_dim: int = 64
    value_dim: int = 512
    decoder_dims: tuple[int, int] = (256, 256)  # out channels of up_16_8 and up_8_4 / the head
    spectral_sigma: float = 7.0
    single_object: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["decoder_dims"] = list(self.decoder_dims)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config fields: {sorted(unknown)}")
        data = dict(data)
        if "decoder_dims" in data:
            data["decoder_dims"] = tuple(data["decoder_dims"])
        return cls(**data)


VARIANTS: dict[str, ModelConfig] = {
    # The paper's network: ResNet-50 key encoder, ResNet-18 value encoder, 512-d values.
    "gsfm": ModelConfig(),
    # A laptop-sized network: half-width ResNet-18 for both encoders, 128-d values and a
    # 32-channel stride-4 head (the head dominates the paper network's cost).
    "gsfm-tiny": ModelConfig(
        variant="gsfm-tiny",
        key_backbone="resnet18",
        key_width=32,
        value_width=32,
        key_dim=64,
        value_dim=128,
        decoder_dims=(64, 32),
    ),
}


def get_config(name: str, single_object: bool = False) -> ModelConfig:
    """The configuration of a named variant (`gsfm` or `gsfm-tiny`)."""
    try:
        config = VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; choose from {sorted(VARIANTS)}") from None
    return replace(config, single_object=single_object)
