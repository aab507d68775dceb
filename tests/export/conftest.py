"""One gsfm-tiny export per test session, made through the CLI (`gsfm export --check`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

CHECK_FRAMES = 3


@dataclass
class TinyExport:
    folder: Path
    code: int
    stdout: str


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> TinyExport:
    """The bundled gsfm-tiny exported by `gsfm export gsfm-tiny --check` (about 40 s)."""
    import contextlib
    import io

    from gsfm.cli import main

    folder = tmp_path_factory.mktemp("onnx") / "gsfm-tiny"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        argv = ["export", "gsfm-tiny", "--out", str(folder), "--check"]
        code = main([*argv, "--check-frames", str(CHECK_FRAMES)])
    return TinyExport(folder, code, out.getvalue())


@pytest.fixture(scope="session")
def tiny_network():
    import torch

    from gsfm.model.weights import load_network

    network, _ = load_network("gsfm-tiny", torch.device("cpu"))
    return network.eval()
