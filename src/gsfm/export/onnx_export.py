"""Export a loaded network's three per-frame graphs to ONNX, with a manifest.

Uses `torch.onnx.export(..., dynamo=True)` (torch.export + onnxscript), which translates the
LFM/HFM FFTs to ONNX DFT ops. Graphs are written self-contained (no external data file) into
a staging folder and moved into `--out` only when all three and the manifest are done.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

import gsfm
from gsfm.digest import sha256_file
from gsfm.errors import OutputError, WeightsError
from gsfm.export.defaults import DEFAULT_OPSET, FFT_FORMS, MIN_OPSET
from gsfm.export.dft import use_matmul_dft
from gsfm.export.graphs import GRAPHS, GraphSpec, dynamic_shapes, example_inputs, graph_specs
from gsfm.export.manifest import MANIFEST_NAME, GraphEntry, Manifest, write_manifest
from gsfm.extras import require
from gsfm.model.network import GSFM
from gsfm.model.weights import WeightsInfo
from gsfm.outputs import check_creatable
from gsfm.ownership import lock_names

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}
# Loggers of the exporter's passes, which log every rewrite at INFO.
CHATTY_LOGGERS = ("onnx_ir", "onnxscript", "torch.onnx", "torch.export", "torch._dynamo")


def check_out(out: Path, overwrite: bool) -> None:
    """--out must be new, empty, or (with --overwrite) an earlier export folder, and
    writable: the folder it goes in can be made and written (as `gsfm segment` checks)."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    if out.is_dir() and any(p.name not in lock_names() for p in out.iterdir()) and not overwrite:
        raise OutputError(
            f"output folder {out} is not empty; pass --overwrite to replace an earlier export, "
            "or choose another --out"
        )
    check_creatable(out, "--out")  # the staging folder goes beside it
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"--out {out} is not writable: no write permission in it")


def export_onnx(
    network: GSFM,
    info: WeightsInfo | None,
    out: str | Path,
    opset: int = DEFAULT_OPSET,
    precision: str = "fp32",
    overwrite: bool = False,
    fft: str = "matmul",
) -> Manifest:
    """Write key_encoder.onnx, value_encoder.onnx, decoder.onnx and the manifest into `out`.

    `fft="matmul"` writes the LFM/HFM FFTs as matrix products (see gsfm.export.dft: much
    faster under onnxruntime); `"dft"` keeps them as ONNX DFT ops.
    """
    require("onnx", "gsfm export")
    out = Path(out)
    if opset < MIN_OPSET:
        raise WeightsError(f"--opset must be at least {MIN_OPSET} (ONNX DFT for the FFTs)")
    if precision not in PRECISIONS:
        raise WeightsError(f"unknown precision {precision!r}; choose from {sorted(PRECISIONS)}")
    if fft not in FFT_FORMS:
        raise WeightsError(f"unknown FFT form {fft!r}; choose from {', '.join(FFT_FORMS)}")
    check_out(out, overwrite)
    dtype = PRECISIONS[precision]
    # A private copy: export must not touch the caller's network (dtype, caches, modules).
    net = copy.deepcopy(network).cpu().eval().to(dtype)
    if fft == "matmul":
        use_matmul_dft(net)
    specs = graph_specs(net)
    parent = out.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    except OSError as err:
        raise OutputError(f"cannot write into {parent}: {err.strerror or err}") from None
    try:
        entries, opsets = {}, set()
        for spec in specs:
            path = staging / spec.file
            log.info("exporting %s (%s, opset %d)", spec.file, precision, opset)
            opsets.add(_export_graph(GRAPHS[spec.name](net, dtype), spec, path, opset))
            entries[spec.name] = GraphEntry(
                spec.file, path.stat().st_size, sha256_file(path), spec.inputs, spec.outputs
            )
        manifest = Manifest(
            variant=net.config.variant,
            config=net.config.to_dict(),
            precision=precision,
            fft=fft,
            opset=max(opsets),
            torch=torch.__version__,
            gsfm=gsfm.__version__,
            source=info.source if info is not None else "unknown",
            graphs=entries,
        )
        write_manifest(staging, manifest)
        _publish(staging, out, [e.file for e in entries.values()] + [MANIFEST_NAME])
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _export_graph(module: torch.nn.Module, spec: GraphSpec, path: Path, opset: int) -> int:
    """One graph through the dynamo exporter, quietly (its progress goes to the debug log);
    returns the graph's ONNX opset."""
    import onnx  # the [onnx] extra, checked by require() before export

    try:
        _run_exporter(module, spec, path, opset)
    except Exception as exc:  # the exporter raises many types; keep the detail for -v
        log.debug("exporting %s failed", spec.file, exc_info=True)
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise WeightsError(
            f"exporting {spec.file} at opset {opset} failed ({type(exc).__name__}: {first}); "
            "run with -v for the exporter's trace"
        ) from None
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    names = ([i.name for i in model.graph.input], [o.name for o in model.graph.output])
    if names != (list(spec.inputs), list(spec.outputs)):
        raise WeightsError(f"{spec.file}: exported names {names} differ from the interface")
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _run_exporter(module: torch.nn.Module, spec: GraphSpec, path: Path, opset: int) -> None:
    chatter = io.StringIO()
    with (
        torch.no_grad(),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(chatter),
        _quiet(CHATTY_LOGGERS),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            example_inputs(spec),
            dynamo=True,
            external_data=False,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_shapes=dynamic_shapes(spec),
            opset_version=opset,
            verbose=False,
        )
        program.save(str(path), external_data=False)
    log.debug("exporter output for %s:\n%s", spec.file, chatter.getvalue())


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    """Raise the given loggers to ERROR for the duration (debug runs keep everything)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    if not log.isEnabledFor(logging.DEBUG):
        for lg in loggers:
            lg.setLevel(max(lg.getEffectiveLevel(), logging.ERROR))
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _publish(staging: Path, out: Path, names: list[str]) -> None:
    """Move the finished files into `out` (created if new; same-named files replaced)."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            os.chmod(staging / name, 0o666 & ~umask)
            os.replace(staging / name, out / name)
    except OSError as err:
        raise OutputError(f"cannot write into {out}: {err.strerror or err}") from None
