"""Named network configurations. Both share all code; only sizes differ."""

from __future__ import annotations

import math
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
        """A config from a file's metadata, every field checked (`validate_config`)."""
        return validate_config(data)


# Bounds of a config read from a file: generous around both variants (widths 32/64, value_dim
# 128/512), tight enough that no file can make us build a network of many GB (value_dim 10^7
# would be ~46 GB) before its tensors are even compared with it.
INT_BOUNDS = {
    "key_width": (1, 256),
    "value_width": (1, 256),
    "key_dim": (1, 1024),
    "value_dim": (1, 2048),
}
DECODER_DIM_BOUNDS = (1, 1024)
SIGMA_BOUNDS = (1e-3, 1e4)


def validate_config(data: object) -> ModelConfig:
    """Check every field of a config read from a file (types, known backbone, bounds) before
    anything is built from it; ValueError naming the first bad field."""
    from gsfm.model.backbone import BLOCKS  # torch; the CLI reads variants without it

    if not isinstance(data, dict):
        raise ValueError(f"the config must be a mapping of fields, got {type(data).__name__}")
    unknown = set(data) - {f.name for f in fields(ModelConfig)}
    if unknown:
        raise ValueError(f"unknown model config fields: {sorted(map(str, unknown))}")
    out = dict(data)

    def is_int(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if "variant" in out and not (isinstance(out["variant"], str) and 0 < len(out["variant"]) < 65):
        raise ValueError(f"variant must be a short name, got {out['variant']!r:.80}")
    for name in ("key_backbone", "value_backbone"):
        if name in out and (not isinstance(out[name], str) or out[name] not in BLOCKS):
            raise ValueError(f"{name} must be one of {sorted(BLOCKS)}, got {out[name]!r:.80}")
    for name, (low, high) in INT_BOUNDS.items():
        if name in out and not (is_int(out[name]) and low <= out[name] <= high):
            raise ValueError(f"{name} must be an integer in {low}..{high}, got {out[name]!r:.80}")
    if "decoder_dims" in out:
        dims = out["decoder_dims"]
        low, high = DECODER_DIM_BOUNDS
        if not (
            isinstance(dims, (list, tuple))
            and len(dims) == 2
            and all(is_int(d) and low <= d <= high for d in dims)
        ):
            raise ValueError(
                f"decoder_dims must be two integers in {low}..{high}, got {dims!r:.80}"
            )
        out["decoder_dims"] = tuple(dims)
    if "spectral_sigma" in out:
        sigma = out["spectral_sigma"]
        low, high = SIGMA_BOUNDS
        if not (
            isinstance(sigma, (int, float))
            and not isinstance(sigma, bool)
            and math.isfinite(sigma)
            and low <= sigma <= high
        ):
            raise ValueError(
                f"spectral_sigma must be a number in {low:g}..{high:g}, got {sigma!r:.80}"
            )
        out["spectral_sigma"] = float(sigma)
    if "single_object" in out and not isinstance(out["single_object"], bool):
        raise ValueError(f"single_object must be true or false, got {out['single_object']!r:.80}")
    return ModelConfig(**out)


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
