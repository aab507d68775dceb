"""The manifest of an export folder: what was exported, how, and a checksum of every file.

`gsfm-onnx.json` beside the .onnx files records the variant and model config, the precision
and opset, the torch and gsfm versions, and per graph its file, size in bytes, sha256 and the
names and symbolic shapes of its inputs and outputs. Loading checks sizes and hashes first, so
a truncated, replaced or foreign file is refused with one line instead of failing (or
silently running) deep inside onnxruntime.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gsfm.atomic import atomic_path
from gsfm.digest import sha256_file
from gsfm.errors import WeightsError
from gsfm.export.defaults import FFT_FORMS, GRAPH_NAMES, MIN_OPSET, PRECISION_NAMES

MANIFEST_NAME = "gsfm-onnx.json"
FORMAT_TAG = "gsfm-onnx-v1"


@dataclass
class GraphEntry:
    """One exported graph."""

    file: str
    bytes: int
    sha256: str
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]


@dataclass
class Manifest:
    """Everything needed to run and to trust an export folder."""

    variant: str
    config: dict[str, Any]
    precision: str
    fft: str  # "matmul" (FFTs as matrix products) or "dft" (ONNX DFT ops)
    opset: int
    torch: str
    gsfm: str
    source: str
    graphs: dict[str, GraphEntry] = field(default_factory=dict)
    format: str = FORMAT_TAG

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    path = folder / MANIFEST_NAME
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(manifest.to_dict(), indent=1) + "\n")
    return path


def read_manifest(folder: str | Path, verify: bool = True) -> Manifest:
    """The folder's manifest; with `verify`, every graph file is checked against it.

    Every problem is a one-line WeightsError (missing folder or manifest, bad JSON, another
    format, missing graph, wrong size, wrong hash).
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise WeightsError(f"ONNX folder {folder} not found (make one with gsfm export)")
    if not path.is_file():
        raise WeightsError(f"{folder} holds no {MANIFEST_NAME}; is it a gsfm export folder?")
    try:
        data = json.loads(path.read_text())
        graphs = {k: GraphEntry(**v) for k, v in data.pop("graphs").items()}
        manifest = Manifest(**data, graphs=graphs)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as exc:
        raise WeightsError(
            f"{path} is not a readable gsfm export manifest ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:120] if str(exc) else 'bad layout'})"
        ) from None
    if manifest.format != FORMAT_TAG:
        raise WeightsError(f"{path} is of format {manifest.format!r}, expected {FORMAT_TAG!r}")
    missing = [name for name in GRAPH_NAMES if name not in manifest.graphs]
    if missing:
        raise WeightsError(f"{path} lists no {', '.join(missing)} graph; export again")
    problem = _field_problem(manifest, folder)
    if problem:
        raise WeightsError(f"{path}: {problem}; export again")
    if verify:
        verify_files(folder, manifest)
    return manifest


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problem(m: Manifest, folder: Path) -> str | None:
    """What is wrong with the manifest's fields (None when nothing): every one is checked
    before anything is built or opened from it, and every graph file must be a file name
    that resolves inside `folder` (no `../x.onnx`, no link out of it)."""
    from gsfm.model.variants import validate_config  # torch: only once a manifest is read

    for name in ("variant", "torch", "gsfm", "source"):
        value = getattr(m, name)
        if not (isinstance(value, str) and len(value) <= 1000):
            return f"{name} must be a string, got {value!r:.80}"
    if m.precision not in PRECISION_NAMES:
        return f"precision must be one of {', '.join(PRECISION_NAMES)}, got {m.precision!r:.80}"
    if m.fft not in FFT_FORMS:
        return f"fft must be one of {', '.join(FFT_FORMS)}, got {m.fft!r:.80}"
    if not (_is_int(m.opset) and MIN_OPSET <= m.opset <= 1000):
        return f"opset must be an integer of at least {MIN_OPSET}, got {m.opset!r:.80}"
    try:
        config = validate_config(m.config)
    except (ValueError, TypeError) as exc:
        return f"config: {exc}"
    if config.variant != m.variant:
        return f"variant {m.variant!r:.80} differs from its config's {config.variant!r:.80}"
    unknown = sorted(set(m.graphs) - set(GRAPH_NAMES))
    if unknown:
        return f"unknown graphs {unknown!r:.120} (expected {', '.join(GRAPH_NAMES)})"
    inside = folder.resolve()
    for name, entry in m.graphs.items():
        file = entry.file
        if not (isinstance(file, str) and file and "/" not in file and "\\" not in file):
            return f"graph {name}: file must be a file name in the folder, got {file!r:.80}"
        if file in (".", "..") or "\0" in file or (inside / file).resolve().parent != inside:
            return f"graph {name}: file {file!r:.80} is outside the export folder"
        if not (_is_int(entry.bytes) and entry.bytes >= 0):
            return f"graph {name}: bytes must be a whole number, got {entry.bytes!r:.80}"
        if not (isinstance(entry.sha256, str) and _SHA256.fullmatch(entry.sha256)):
            return f"graph {name}: sha256 must be 64 hex digits, got {entry.sha256!r:.80}"
        for side in ("inputs", "outputs"):
            shapes = getattr(entry, side)
            if not (
                isinstance(shapes, dict)
                and all(
                    isinstance(k, str)
                    and isinstance(v, list)
                    and all(_is_int(d) or isinstance(d, str) for d in v)
                    for k, v in shapes.items()
                )
            ):
                return f"graph {name}: {side} must map names to shapes, got {shapes!r:.80}"
    return None


def verify_files(folder: Path, manifest: Manifest) -> None:
    """Each graph file exists with the recorded size and sha256, else one WeightsError."""
    for name in GRAPH_NAMES:
        entry = manifest.graphs[name]
        path = folder / entry.file
        if not path.is_file():
            raise WeightsError(f"{path} ({name}) is missing from the export folder; export again")
        size = path.stat().st_size
        if size != entry.bytes:
            raise WeightsError(
                f"{path} is {size} bytes but the manifest says {entry.bytes} (truncated or "
                "replaced file); export again"
            )
        digest = sha256_file(path)
        if digest != entry.sha256:
            raise WeightsError(
                f"{path} does not match its sha256 in {MANIFEST_NAME} (file changed after "
                "export); export again"
            )


def folder_digest(folder: str | Path) -> str:
    """One sha256 for an export folder's contents: its graphs are checked against the
    manifest's hashes (`verify_files`), so the manifest's own hash covers them too."""
    read_manifest(folder, verify=True)
    return sha256_file(Path(folder) / MANIFEST_NAME)
