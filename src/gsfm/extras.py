"""Optional dependencies: segment, infer, evaluate and demo need only the core ones; the
verbs below need an extra, and say which in one line when it is missing.

- train: scipy (the procedural data's motion paths), scikit-image (its photo textures),
  tensorboard (training logs), for `gsfm train`, `gsfm data` and `gsfm bench` (whose clips
  come from the procedural generator);
- plots: matplotlib, for the evaluation's bar chart (skipped without it);
- onnx: onnx and onnxscript (torch's dynamo ONNX exporter needs both), onnxruntime, for
  `gsfm export` and `--backend onnxruntime`;
- serve: fastapi and uvicorn, for `gsfm serve` (the web app).
"""

from __future__ import annotations

import importlib.util

from gsfm.errors import GSFMError

EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("scipy", "skimage", "tensorboard"),
    "plots": ("matplotlib",),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
    "serve": ("fastapi", "uvicorn"),
}


class MissingExtraError(GSFMError):
    """An optional dependency group that a command needs is not installed."""


def missing(extra: str) -> list[str]:
    """The modules of `extra` that cannot be imported here."""
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError (one line, exit 2) unless every module of `extra` is installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"{what} needs the [{extra}] extra ({', '.join(absent)} not installed): "
            f"pip install 'gsfm[{extra}]'"
        )
