"""`OnnxNetwork`: the exported graphs under onnxruntime, with the methods the engine calls.

`InferenceEngine` uses a network through `encode_key`, `encode_value`, `decode` (plus
`parameters`/`to`/`eval` when it is built); this class offers exactly those, so the engine,
memory bank, top-k readout (which stays in torch), aggregation and `VideoPredictor` run
unchanged. Tensors cross to numpy on the CPU and back to the engine's device.

Providers: `device="cpu"` uses the CPU provider only; `"auto"` puts TensorRT and CUDA first
when this onnxruntime build has them; `"cuda"` requires the CUDA provider.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from gsfm.errors import GSFMError, InputError, WeightsError
from gsfm.export.manifest import Manifest, read_manifest
from gsfm.extras import require
from gsfm.inference.device import resolve_device
from gsfm.inference.predictor import VideoPredictor
from gsfm.model.network import KeyFeatures
from gsfm.model.variants import ModelConfig
from gsfm.model.weights import WeightsInfo

if TYPE_CHECKING:
    from gsfm.inference.predictor import VideoPredictor

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def available_providers() -> list[str]:
    require("onnx", "the onnxruntime backend")
    import onnxruntime as ort  # the [onnx] extra, checked by require() above

    return list(ort.get_available_providers())


def choose_providers(device: str = "cpu") -> list[str]:
    """Execution providers for a device name (auto | cpu | cuda), best first."""
    have = available_providers()
    kind = str(device).strip().lower().split(":", 1)[0]
    if kind == "cpu":
        return [CPU]
    if kind == "auto":
        return [p for p in GPU_PROVIDERS if p in have] + [CPU]
    if kind == "cuda":
        if "CUDAExecutionProvider" not in have:
            raise GSFMError(
                "device 'cuda' was asked for but this onnxruntime has no CUDA provider "
                f"(it has {', '.join(have)}); install onnxruntime-gpu or use --device cpu"
            )
        return [p for p in GPU_PROVIDERS if p in have] + [CPU]
    raise GSFMError(f"the onnxruntime backend runs on auto, cpu or cuda, not {device!r}")


class OnnxNetwork:
    """Key encoder, value encoder and decoder of an export folder, run by onnxruntime."""

    def __init__(
        self,
        folder: str | Path,
        device: str = "cpu",
        threads: int | None = None,
    ) -> None:
        require("onnx", "the onnxruntime backend")
        import onnxruntime as ort  # the [onnx] extra, checked by require() above

        self.folder = Path(folder)
        self.manifest: Manifest = read_manifest(self.folder)  # checks sizes and hashes
        self.config = ModelConfig.from_dict(self.manifest.config)
        self.providers = choose_providers(device)
        options = ort.SessionOptions()
        # Same thread count as torch by default, so that the two backends compare fairly.
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.sessions: dict[str, Any] = {}
        for name, entry in self.manifest.graphs.items():
            path = self.folder / entry.file
            try:
                self.sessions[name] = ort.InferenceSession(
                    str(path), sess_options=options, providers=self.providers
                )
            except Exception as exc:  # onnxruntime raises its own types for bad files
                first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                raise WeightsError(
                    f"onnxruntime cannot load {path} ({type(exc).__name__}: {first})"
                ) from None
        self.device = torch.device("cpu")
        log.info(
            "onnxruntime %s: %s (%s) with %s",
            ort.__version__,
            self.folder,
            self.manifest.variant,
            ", ".join(self.sessions["key_encoder"].get_providers()),
        )

    # ------------------------------------------------------------------ engine plumbing

    def parameters(self) -> Iterator[Tensor]:
        """One empty tensor on the output device (the engine reads the device from it)."""
        yield torch.empty(0, device=self.device)

    def to(self, device: str | torch.device) -> OnnxNetwork:
        """Outputs go to `device` (the graphs run where their providers are)."""
        self.device = torch.device(device)
        return self

    def eval(self) -> OnnxNetwork:
        return self

    def info(self) -> WeightsInfo:
        m = self.manifest
        return WeightsInfo(
            m.variant,
            f"{self.folder} (ONNX export of {m.source})",
            f"onnx {m.precision}, opset {m.opset}",
            0,
            single_object=self.config.single_object,
            metadata={"providers": ", ".join(self.providers)},
        )

    # ------------------------------------------------------------------ the three graphs

    def _run(self, name: str, **inputs: Tensor) -> list[Tensor]:
        feed = {k: _numpy(v) for k, v in inputs.items()}
        outputs = self.sessions[name].run(None, feed)
        return [torch.from_numpy(o).to(self.device) for o in outputs]

    def encode_key(self, frame: Tensor) -> KeyFeatures:
        """Normalised, padded frame [1, 3, H, W] -> key features (`GSFM.encode_key`)."""
        _check_frame(frame)
        return KeyFeatures(*self._run("key_encoder", frame=frame))

    def encode_value(self, frame: Tensor, f16: Tensor, masks: Tensor) -> Tensor:
        """Frame, key f16, object masks [1, N, H, W] -> values [1, N, Cv, h, w]."""
        (values,) = self._run("value_encoder", frame=frame, f16=f16, masks=masks)
        return values

    def decode(
        self,
        readout: Tensor,
        query_value: Tensor,
        f8: Tensor,
        f4: Tensor,
        with_boundary: bool = False,
    ) -> tuple[Tensor, None]:
        """Readout [1, N, Cv, h, w] + the query's value, f8, f4 -> mask logits [1, N, H, W]."""
        if with_boundary:
            raise InputError("the exported decoder has no boundary head (training only)")
        (logits,) = self._run("decoder", readout=readout, query_value=query_value, f8=f8, f4=f4)
        return logits, None


def _numpy(t: Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())


def _check_frame(frame: Tensor) -> None:
    if frame.dim() != 4 or frame.shape[0] != 1 or frame.shape[-1] % 16 or frame.shape[-2] % 16:
        raise InputError(
            f"the exported key encoder takes [1, 3, H, W] with H and W multiples of 16, got "
            f"{tuple(frame.shape)}"
        )


def onnx_predictor(folder: str | Path, device: str = "cpu", **options: Any) -> VideoPredictor:
    """A `VideoPredictor` on an export folder; `options` are `EngineConfig` fields.

    The engine's own tensors (readout, aggregation) live on `device` as resolved for torch;
    the graphs run on the providers `choose_providers(device)` picks.
    """
    precision = options.get("precision", "fp32")
    if precision == "auto":  # the export's own precision is what runs
        options = {**options, "precision": "fp32"}
    elif precision != "fp32":
        raise InputError(
            f"--precision {precision} applies to the torch backend; an ONNX export's precision "
            "is fixed when exporting (gsfm export --precision)"
        )
    network = OnnxNetwork(folder, device=device)
    torch_device = resolve_device(device)
    return VideoPredictor(network, device=torch_device, info=network.info(), **options)  # type: ignore[arg-type]
