"""The `[onnx]` extra: which modules each feature needs, and one line when they are missing."""

from __future__ import annotations

import importlib.util

from gsfm.errors import MissingExtraError

EXTRA = "onnx"
EXPORT_MODULES = ("onnx", "onnxscript")  # torch.onnx.export(dynamo=True) needs both
RUNTIME_MODULES = ("onnxruntime",)


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The modules of `modules` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(modules: tuple[str, ...], feature: str) -> None:
    """Raise a one-line MissingExtraError naming the extra when any module is missing."""
    missing = missing_modules(modules)
    if missing:
        raise MissingExtraError(
            f"{feature} needs {', '.join(missing)}, which is not installed; install the "
            f"optional extra: pip install 'gsfm[{EXTRA}]'"
        )
