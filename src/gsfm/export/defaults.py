"""Names and defaults of the export, importable without torch (the CLI's parser reads them)."""

from __future__ import annotations

GRAPH_NAMES = ("key_encoder", "value_encoder", "decoder")
MIN_OPSET = 17  # ONNX DFT (the FFTs' op, when kept) exists from opset 17
DEFAULT_OPSET = 18
PRECISION_NAMES = ("fp16", "fp32")
FFT_FORMS = ("matmul", "dft")
CHECK_FRAMES = 12
