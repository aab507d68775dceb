"""Loading and saving network weights: one entry point for every supported file.

Accepted sources (`load_network`):
- a bundled model name (`"gsfm-tiny"`), shipped in `gsfm/assets/weights/`;
- `random:<variant>`: an untrained network (benchmarks, baselines);
- this project's format: `NAME.safetensors` with the config in its metadata (the one source
  of a model's config; the `NAME.yaml` written beside it is for people and never read);
- a checkpoint of the original GSFM/STCN layout (`.pth`: a bare state dict or one nested under
  `network`/`state_dict`/`model`, optional DDP `module.` prefix), loaded strictly;
- a torchvision ResNet-50/18 ImageNet state dict, which initialises the matching backbone(s)
  of a fresh network.
Anything else gets one `WeightsError` naming what did not fit.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from gsfm.atomic import atomic_path
from gsfm.errors import WeightsError
from gsfm.model.network import GSFM
from gsfm.model.variants import VARIANTS, ModelConfig, get_config

log = logging.getLogger(__name__)

NESTED_KEYS = ("network", "state_dict", "model", "net")
FORMAT_TAG = "gsfm-weights-v1"


@dataclass
class WeightsInfo:
    """Where a network's weights came from."""

    variant: str
    source: str
    format: str
    parameters: int
    single_object: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [
            f"variant:     {self.variant}{' (single-object, stage 0)' * self.single_object}",
            f"parameters:  {self.parameters:,} ({self.parameters / 1e6:.2f} M)",
            f"format:      {self.format}",
            f"source:      {self.source}",
        ]
        lines += [f"{k + ':':<12} {v}" for k, v in self.metadata.items()]
        return "\n".join(lines)


def count_parameters(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def bundled_weights_dir() -> Path:
    return Path(str(resources.files("gsfm"))) / "assets" / "weights"


def bundled_names() -> list[str]:
    folder = bundled_weights_dir()
    return sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []


# ----------------------------------------------------------------------------- state dicts


def strip_prefix(state: dict[str, Tensor], prefix: str = "module.") -> dict[str, Tensor]:
    """Remove a DDP/compile prefix from every key that has it."""
    if any(k.startswith(prefix) for k in state):
        return {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def layout_problems(state: dict[str, Tensor], expected: dict[str, Tensor]) -> list[str]:
    """Human-readable list of missing, unexpected and mis-shaped keys (empty if it fits)."""

    def summary(label: str, items: list[str]) -> str:
        head = ", ".join(items[:5])
        more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
        return f"{len(items)} {label}: {head}{more}"

    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(summary("missing keys", missing))
    if unexpected:
        problems.append(summary("unexpected keys", unexpected))
    if shapes:
        problems.append(summary("mis-shaped keys", shapes))
    return problems


def load_state_strict(net: GSFM, state: dict[str, Tensor], source: str) -> None:
    problems = layout_problems(state, net.state_dict())
    if problems:
        raise WeightsError(
            f"{source} does not fit the {net.config.variant} network: " + "; ".join(problems)
        )
    net.load_state_dict(state, strict=True)


def read_torch_file(path: Path) -> dict[str, Tensor]:
    """Read a `.pth`/`.pt` state dict safely (weights_only) and unwrap nesting/prefixes."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt/foreign files
        raise WeightsError(
            f"cannot read {path} as a PyTorch checkpoint (truncated, corrupt or not a "
            f"checkpoint): {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        ) from None
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())
    ):
        raise WeightsError(f"{path} holds no state dict of tensors")
    check_finite(obj, path)
    return strip_prefix(strip_prefix(obj), "_orig_mod.")


def check_finite(state: dict[str, Tensor], source: str | Path) -> None:
    """Refuse NaN/Inf weights (a diverged training run): they would only give empty masks."""
    bad = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        more = f" (+{len(bad) - 5} more)" if len(bad) > 5 else ""
        raise WeightsError(
            f"{source} holds NaN or infinite values in {len(bad)} tensor(s): "
            f"{', '.join(bad[:5])}{more}; the training that wrote it diverged"
        )


def is_torchvision_resnet(state: dict[str, Tensor]) -> bool:
    return "fc.weight" in state and "layer1.0.conv1.weight" in state and "conv1.weight" in state


def infer_config(state: dict[str, Tensor]) -> tuple[ModelConfig, list[str]]:
    """The variant whose layout the state dict fits; else the closest one and its problems."""
    best: tuple[int, ModelConfig, list[str]] | None = None
    for name in VARIANTS:
        for single in (False, True):
            config = get_config(name, single_object=single)
            with torch.device("meta"):
                expected = GSFM(config).state_dict()
            problems = layout_problems(state, expected)
            if not problems:
                return config, []
            score = sum(1 for k in expected if k not in state) + sum(
                1 for k in state if k not in expected
            )
            if best is None or score < best[0]:
                best = (score, config, problems)
    assert best is not None
    return best[1], best[2]


# ----------------------------------------------------------------------------- torchvision


def init_from_torchvision(net: GSFM, state: dict[str, Tensor], source: str) -> list[str]:
    """Copy a torchvision ImageNet ResNet into every encoder of the same architecture.

    Conv biases (absent in torchvision) are zeroed; extra input channels of the value
    encoder's first conv (the masks) are initialised orthogonally, as the original's
    `load_weights_sequential`. Returns the encoders that were initialised.
    """
    done = []
    for prefix, rename in (("key_encoder", {"layer1": "res2"}), ("value_encoder", {})):
        module = getattr(net, prefix)
        own = {k: v for k, v in module.state_dict().items() if not k.startswith("fuser.")}
        mapped = {}
        for k, v in state.items():
            stage, rest = k.split(".", 1)
            if stage not in ("fc", "layer4"):
                mapped[rename.get(stage, stage) + "." + rest] = v
        if not _torchvision_fits(own, mapped):
            continue
        new_state = module.state_dict()
        for k, t in own.items():
            if k in mapped:
                v = mapped[k]
                if v.shape != t.shape:  # first conv with mask channels: orthogonal extras
                    extra = orthogonal_channels(v, t.shape[1] - v.shape[1])
                    v = torch.cat([v, extra], 1)
                new_state[k] = v
            elif _is_conv_bias(k):
                new_state[k] = torch.zeros_like(t)
        module.load_state_dict(new_state, strict=True)
        done.append(prefix)
    if not done:
        c = net.config
        raise WeightsError(
            f"{source} is a torchvision ResNet that fits no encoder of the {c.variant} network "
            f"({c.key_backbone} key encoder of width {c.key_width}, {c.value_backbone} value "
            f"encoder of width {c.value_width})"
        )
    return done


def orthogonal_channels(weight: Tensor, extra: int) -> Tensor:
    """`extra` new input channels for a conv weight [out, in, kh, kw], initialised as the
    original does (`nn.init.orthogonal_` on a zero [out, extra, kh, kw] tensor, torch's RNG):
    the [out, extra * kh * kw] matrix has orthonormal rows or columns, whichever are fewer."""
    pads = torch.zeros(weight.shape[0], extra, *weight.shape[2:], dtype=torch.float32)
    torch.nn.init.orthogonal_(pads)
    return pads.to(device=weight.device, dtype=weight.dtype)


def _is_conv_bias(key: str) -> bool:
    name = key.rsplit(".", 2)
    return key.endswith(".bias") and (
        name[-2].startswith("conv") or key.endswith("downsample.0.bias")
    )


def _torchvision_fits(own: dict[str, Tensor], mapped: dict[str, Tensor]) -> bool:
    """Every torchvision tensor has a same-shaped slot (the first conv may have more inputs)
    and every slot but the conv biases is filled."""
    for k, v in mapped.items():
        t = own.get(k)
        if t is None:
            return False
        if t.shape != v.shape and not (
            k == "conv1.weight"
            and t.shape[0] == v.shape[0]
            and t.shape[1] > v.shape[1]
            and t.shape[2:] == v.shape[2:]
        ):
            return False
    return all(k in mapped or _is_conv_bias(k) for k in own)


# ----------------------------------------------------------------------------- own format


def sidecar_path(path: Path) -> Path:
    """The human-readable summary beside a weights file (written, never read)."""
    return path.with_suffix(".yaml")


def save_network(net: GSFM, path: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write `path` (.safetensors, config in its metadata) and, for people, `path.yaml` (JSON
    text, which is valid YAML, so no YAML library is needed), both atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    config = net.config.to_dict()
    info = dict(info or {})
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    metadata = {
        "format": FORMAT_TAG,
        "config": json.dumps(config),
        "info": json.dumps(info, default=str),
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)
    with atomic_path(sidecar_path(path)) as tmp:
        doc = {"format": FORMAT_TAG, "config": config, "info": info}
        tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    return path


def read_safetensors(path: Path) -> tuple[dict[str, Tensor], ModelConfig, dict[str, Any]]:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path} as safetensors (truncated or not a weights file): "
            f"{str(exc).splitlines()[0][:200]}"
        ) from None
    check_finite(state, path)
    if "config" not in metadata:
        config, problems = infer_config(state)
        if problems:
            raise WeightsError(
                f"{path} has no gsfm config in its metadata and fits no known variant: "
                + "; ".join(problems)
            )
        return state, config, {}
    try:
        config_data = json.loads(metadata["config"])
        info = json.loads(metadata.get("info", "{}"))
    except ValueError as exc:
        raise WeightsError(f"bad model config in the metadata of {path}: {exc}") from None
    if not isinstance(info, dict):
        raise WeightsError(f"bad model config in the metadata of {path}: 'info' is not a mapping")
    try:
        return state, ModelConfig.from_dict(config_data), info
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"bad model config for {path}: {exc}") from None


# ----------------------------------------------------------------------------- entry point


def load_network(
    source: str | Path,
    device: str | torch.device = "cpu",
    variant: str | None = None,
) -> tuple[GSFM, WeightsInfo]:
    """Build the network a weights source describes and load it strictly (see module doc).

    `variant` is needed only for torchvision files (which network to initialise) and is
    checked against the file otherwise.
    """
    text = str(source)
    path = weights_file(source)
    if path is None:
        config = _config_or_error(text.removeprefix("random:"))
        net = GSFM(config)
        info = WeightsInfo(config.variant, text, "untrained", count_parameters(net))
    elif _is_bundled(text):
        net, info = _load_own(path)
        info.source = f"bundled {text} ({path.name})"
    elif path.suffix == ".safetensors":
        net, info = _load_own(path)
    else:
        net, info = _load_torch(path, variant)
    if variant is not None and info.variant != variant:
        raise WeightsError(f"{source} holds a {info.variant} network, not {variant}")
    return net.to(device), info


def _is_bundled(text: str) -> bool:
    return text in VARIANTS and not Path(text).exists()


def weights_file(source: str | Path) -> Path | None:
    """The file a weights source names (a bundled name's file, or the path given), None for
    `random:<variant>`; a missing file is the one-line WeightsError `load_network` gives."""
    text = str(source)
    if text.startswith("random:"):
        return None
    if _is_bundled(text):
        path = bundled_weights_dir() / f"{text}.safetensors"
        if not path.is_file():
            raise WeightsError(
                f"no bundled weights for {text!r} (bundled: {bundled_names() or 'none'}); "
                f"pass a weights file, or 'random:{text}' for an untrained network"
            )
        return path
    path = Path(text)
    if not path.is_file():
        raise WeightsError(
            f"weights file {path} not found (bundled names: {bundled_names() or 'none'}; "
            "or random:gsfm / random:gsfm-tiny)"
        )
    return path


def _config_or_error(name: str) -> ModelConfig:
    try:
        return get_config(name)
    except ValueError as exc:
        raise WeightsError(str(exc)) from None


def _load_own(path: Path) -> tuple[GSFM, WeightsInfo]:
    state, config, metadata = read_safetensors(path)
    with torch.device("meta"):  # compare shapes before allocating anything the file claims
        problems = layout_problems(state, GSFM(config).state_dict())
    if problems:
        raise WeightsError(
            f"{path} does not fit its {config.variant} config: " + "; ".join(problems)
        )
    net = GSFM(config)
    load_state_strict(net, state, str(path))
    info = WeightsInfo(
        config.variant,
        str(path),
        "gsfm safetensors",
        count_parameters(net),
        config.single_object,
        metadata,
    )
    return net, info


def _load_torch(path: Path, variant: str | None) -> tuple[GSFM, WeightsInfo]:
    state = read_torch_file(path)
    if is_torchvision_resnet(state):
        config = _config_or_error(variant or "gsfm")
        net = GSFM(config)
        done = init_from_torchvision(net, state, str(path))
        info = WeightsInfo(
            config.variant,
            str(path),
            "torchvision ImageNet ResNet",
            count_parameters(net),
            metadata={"initialised": ", ".join(done)},
        )
        return net, info
    config, problems = infer_config(state)
    if variant is not None and config.variant != variant:
        wanted = replace(get_config(variant), single_object=config.single_object)
        with torch.device("meta"):
            problems = layout_problems(state, GSFM(wanted).state_dict())
        config = wanted
    if problems:
        raise WeightsError(
            f"{path} does not fit the original GSFM layout ({config.variant}): "
            + "; ".join(problems)
        )
    net = GSFM(config)
    load_state_strict(net, state, str(path))
    fmt = "original GSFM/STCN checkpoint" + " (stage 0, single object)" * config.single_object
    return net, WeightsInfo(
        config.variant, str(path), fmt, count_parameters(net), config.single_object
    )


def expand_single_object(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Stage-0 weights -> multi-object layout: the value encoder's 5th input channel (the other
    objects' mask) initialised orthogonally, as the original's `load_network`."""
    key = "value_encoder.conv1.weight"
    w = state.get(key)
    if w is None or w.shape[1] != 4:
        return state
    state = dict(state)
    state[key] = torch.cat([w, orthogonal_channels(w, 1)], dim=1)
    return state
