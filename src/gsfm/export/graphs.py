"""The three per-frame graphs the engine calls, as exportable modules with their interfaces.

Each wrapper calls the very `GSFM` method the engine calls (`encode_key`, `encode_value`,
`decode`), so an exported graph computes what PyTorch computes; the memory readout between
them stays in the engine. Inputs and outputs are float32 whatever the graph's precision (an
fp16 graph casts inside), so the engine feeds every export the same way.

Shapes: batch 1 (the engine runs one frame at a time), H and W any multiple of 16, N objects
any count >= 1; h, w = H/16, W/16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.export import Dim

from gsfm.model.network import GSFM

STRIDE = 16
# Sizes of the example inputs the graphs are traced with: unequal, not 1, so that no dynamic
# axis is specialised to the example (torch.export specialises sizes 0 and 1).
TRACE_H16, TRACE_W16, TRACE_OBJECTS = 4, 6, 2
MAX_SIDE16 = 1024  # 16384 pixels; only a bound for torch.export's range analysis
MAX_OBJECTS = 4096

Shape = list[int | str]


@dataclass(frozen=True)
class GraphSpec:
    """One graph: its file, and its inputs and outputs in order, with symbolic shapes."""

    name: str
    inputs: dict[str, Shape]
    outputs: dict[str, Shape]

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"


class KeyEncoderGraph(nn.Module):
    """frame [1, 3, H, W] -> key, value, f16, f8, f4 (`GSFM.encode_key`, LFM included)."""

    def __init__(self, network: GSFM, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.network, self.dtype = network, dtype

    def forward(self, frame: Tensor) -> tuple[Tensor, ...]:
        features = self.network.encode_key(frame.to(self.dtype))
        return tuple(t.float() for t in features)


class ValueEncoderGraph(nn.Module):
    """frame, key f16, masks [1, N, H, W] -> values [1, N, Cv, h, w] (`GSFM.encode_value`)."""

    def __init__(self, network: GSFM, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.network, self.dtype = network, dtype

    def forward(self, frame: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        d = self.dtype
        return self.network.encode_value(frame.to(d), f16.to(d), masks.to(d)).float()


class DecoderGraph(nn.Module):
    """readout [1, N, Cv, h, w], query value, f8, f4 -> mask logits [1, N, H, W] (HFM inside)."""

    def __init__(self, network: GSFM, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.network, self.dtype = network, dtype

    def forward(self, readout: Tensor, query_value: Tensor, f8: Tensor, f4: Tensor) -> Tensor:
        d = self.dtype
        logits, _ = self.network.decode(readout.to(d), query_value.to(d), f8.to(d), f4.to(d))
        return logits.float()


GRAPHS: dict[str, type[nn.Module]] = {
    "key_encoder": KeyEncoderGraph,
    "value_encoder": ValueEncoderGraph,
    "decoder": DecoderGraph,
}


def graph_specs(network: GSFM) -> list[GraphSpec]:
    """The interface of each graph for this network's channel counts."""
    c = network.config
    c16, c8, c4 = network.key_encoder.out_channels
    ck, cv = c.key_dim, c.value_dim
    f16 = [1, c16, "H/16", "W/16"]
    f8, f4 = [1, c8, "H/8", "W/8"], [1, c4, "H/4", "W/4"]
    qv = [1, cv, "H/16", "W/16"]
    frame = [1, 3, "H", "W"]
    return [
        GraphSpec(
            "key_encoder",
            {"frame": frame},
            {"key": [1, ck, "H/16", "W/16"], "value": qv, "f16": f16, "f8": f8, "f4": f4},
        ),
        GraphSpec(
            "value_encoder",
            {"frame": frame, "f16": f16, "masks": [1, "N", "H", "W"]},
            {"values": [1, "N", cv, "H/16", "W/16"]},
        ),
        GraphSpec(
            "decoder",
            {"readout": [1, "N", cv, "H/16", "W/16"], "query_value": qv, "f8": f8, "f4": f4},
            {"logits": [1, "N", "H", "W"]},
        ),
    ]


def concrete_shape(shape: Shape, height: int, width: int, objects: int) -> tuple[int, ...]:
    """A symbolic manifest shape at a frame size and object count."""
    sizes = {"H": height, "W": width, "N": objects}
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:
            name, _, div = d.partition("/")
            out.append(sizes[name] // int(div or 1))
    return tuple(out)


def example_inputs(spec: GraphSpec) -> tuple[Tensor, ...]:
    """Random float32 inputs at the trace size."""
    h, w = TRACE_H16 * STRIDE, TRACE_W16 * STRIDE
    gen = torch.Generator().manual_seed(0)
    return tuple(
        torch.rand(concrete_shape(s, h, w, TRACE_OBJECTS), generator=gen)
        for s in spec.inputs.values()
    )


def dynamic_shapes(spec: GraphSpec) -> dict[str, dict[int, Any]]:
    """torch.export dims: H = 16 h16, W = 16 w16 (so every stride divides), N free."""
    h16 = Dim("h16", min=1, max=MAX_SIDE16)
    w16 = Dim("w16", min=1, max=MAX_SIDE16)
    dims = {
        "H": STRIDE * h16,
        "W": STRIDE * w16,
        "H/16": h16,
        "W/16": w16,
        "H/8": 2 * h16,
        "W/8": 2 * w16,
        "H/4": 4 * h16,
        "W/4": 4 * w16,
        "N": Dim("objects", min=1, max=MAX_OBJECTS),
    }
    return {
        name: {i: dims[d] for i, d in enumerate(shape) if isinstance(d, str)}
        for name, shape in spec.inputs.items()
    }
