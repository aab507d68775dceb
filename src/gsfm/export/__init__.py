"""Deployment outside PyTorch: ONNX export of the per-frame graphs and an onnxruntime network.

`export_onnx` writes key_encoder.onnx (with the LFM), value_encoder.onnx and decoder.onnx (with
the HFM) plus a manifest; `OnnxNetwork` runs them behind the unchanged `InferenceEngine`, whose
memory readout stays in torch. onnx, onnxscript and onnxruntime come with `pip install
'gsfm[onnx]'`; they are imported only when used.
"""

from __future__ import annotations
