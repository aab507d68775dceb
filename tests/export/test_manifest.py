"""The manifest pins the export: tampered hashes and truncated files are refused in one line."""

from __future__ import annotations

import hashlib
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from gsfm.cli import main
from gsfm.errors import WeightsError
from gsfm.export.manifest import MANIFEST_NAME, read_manifest
from gsfm.export.runtime import OnnxNetwork


@pytest.fixture
def copy_of(tiny_export, tmp_path):
    folder = tmp_path / "export"
    shutil.copytree(tiny_export.folder, folder)
    return folder


def edit_manifest(folder, change) -> None:
    path = folder / MANIFEST_NAME
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def one_line_refusal(folder, capsys) -> str:
    """`gsfm segment --backend onnxruntime` on the folder: exit 2 and one line, no traceback,
    no output folder."""
    work = folder.parent
    (work / "frames").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(work / "frames" / "00000.png")
    Image.fromarray(np.pad(np.ones((8, 8), np.uint8), 12)).save(work / "m.png")
    argv = ["segment", str(work / "frames"), "--mask", str(work / "m.png"), "--out"]
    code = main([*argv, str(work / "o"), "--backend", "onnxruntime", "--onnx", str(folder)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (work / "o").exists()
    return err


def test_manifest_records_the_export(tiny_export):
    m = read_manifest(tiny_export.folder)
    assert m.variant == "gsfm-tiny" and m.config["value_dim"] == 128
    assert m.precision == "fp32" and m.opset >= 17 and m.fft == "matmul"
    import torch

    import gsfm

    assert m.torch == torch.__version__ and m.gsfm == gsfm.__version__
    assert set(m.graphs) == {"key_encoder", "value_encoder", "decoder"}
    for entry in m.graphs.values():
        data = (tiny_export.folder / entry.file).read_bytes()
        assert entry.bytes == len(data)
        assert entry.sha256 == hashlib.sha256(data).hexdigest()
    assert list(m.graphs["decoder"].inputs) == ["readout", "query_value", "f8", "f4"]
    assert m.graphs["decoder"].outputs == {"logits": [1, "N", "H", "W"]}
    assert m.graphs["key_encoder"].outputs["key"] == [1, 64, "H/16", "W/16"]


def test_hash_mismatch_is_refused(copy_of, capsys):
    def tamper(data):
        data["graphs"]["value_encoder"]["sha256"] = "0" * 64

    edit_manifest(copy_of, tamper)
    with pytest.raises(WeightsError, match="does not match its sha256"):
        OnnxNetwork(copy_of)
    assert "value_encoder.onnx does not match its sha256" in one_line_refusal(copy_of, capsys)


def test_changed_file_is_refused(copy_of):
    path = copy_of / "key_encoder.onnx"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"key_encoder\.onnx does not match its sha256"):
        OnnxNetwork(copy_of)


def test_truncated_file_is_refused(copy_of, capsys):
    path = copy_of / "decoder.onnx"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="truncated or replaced"):
        OnnxNetwork(copy_of)
    assert "decoder.onnx is" in one_line_refusal(copy_of, capsys)


def test_truncated_file_with_a_matching_manifest_is_refused_by_onnxruntime(copy_of, capsys):
    """Even when the manifest was rewritten to fit, onnxruntime's refusal is one line."""
    path = copy_of / "decoder.onnx"
    data = path.read_bytes()[:200_000]
    path.write_bytes(data)

    def refit(d):
        d["graphs"]["decoder"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    edit_manifest(copy_of, refit)
    with pytest.raises(WeightsError, match="onnxruntime cannot load"):
        OnnxNetwork(copy_of)
    assert "onnxruntime cannot load" in one_line_refusal(copy_of, capsys)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="other-v9"), "is of format 'other-v9'"),
        (lambda d: d["graphs"].pop("decoder"), "lists no decoder graph"),
        (lambda d: d.pop("variant"), "not a readable gsfm export manifest"),
    ],
)
def test_foreign_manifests_are_refused(copy_of, change, message):
    edit_manifest(copy_of, change)
    with pytest.raises(WeightsError, match=message):
        read_manifest(copy_of)


def test_missing_files_are_refused(copy_of, tmp_path):
    (copy_of / "decoder.onnx").unlink()
    with pytest.raises(WeightsError, match=r"decoder\.onnx \(decoder\) is missing"):
        read_manifest(copy_of)
    with pytest.raises(WeightsError, match=r"holds no gsfm-onnx\.json"):
        read_manifest(tmp_path)
    with pytest.raises(WeightsError, match="not found"):
        read_manifest(tmp_path / "nowhere")


def _set_value_dim(value):
    return lambda d: d["config"].update(value_dim=value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set_value_dim(128.5), "config: value_dim must be an integer in 1..2048, got 128.5"),
        (_set_value_dim("128"), "config: value_dim must be an integer"),
        (_set_value_dim(10**9), "config: value_dim must be an integer in 1..2048"),
        (lambda d: d["config"].update(variant="gsfm"), "differs from its config's"),
        (lambda d: d.update(precision="fp8"), "precision must be one of fp16, fp32"),
        (lambda d: d.update(fft="fast"), "fft must be one of matmul, dft"),
        (lambda d: d.update(opset="18"), "opset must be an integer of at least 17"),
        (lambda d: d.update(opset=16), "opset must be an integer of at least 17"),
        (lambda d: d.update(source=["x"]), "source must be a string"),
        (lambda d: d["graphs"]["decoder"].update(bytes=-1), "bytes must be a whole number"),
        (lambda d: d["graphs"]["decoder"].update(bytes=1.5), "bytes must be a whole number"),
        (lambda d: d["graphs"]["decoder"].update(sha256="zz"), "sha256 must be 64 hex digits"),
        (lambda d: d["graphs"]["decoder"].update(file=7), "file must be a file name"),
        (lambda d: d["graphs"]["decoder"].update(file="sub/x.onnx"), "must be a file name"),
        (lambda d: d["graphs"]["decoder"].update(file=".."), "is outside the export folder"),
        (lambda d: d["graphs"]["decoder"].update(inputs=[1]), "inputs must map names to shapes"),
        (
            lambda d: d["graphs"].update(extra=d["graphs"]["decoder"]),
            "unknown graphs ['extra']",
        ),
    ],
)
def test_every_manifest_field_is_checked_before_anything_is_built(copy_of, capsys, change, message):
    """Issue 25 case 11: a non-integer value_dim used to give a traceback."""
    edit_manifest(copy_of, change)
    with pytest.raises(WeightsError, match=re.escape(message)):
        read_manifest(copy_of, verify=False)
    assert message in one_line_refusal(copy_of, capsys)


def test_a_graph_file_outside_the_export_folder_is_refused(copy_of, tmp_path, capsys):
    """`file: ../x.onnx` (size and hash right) and a link out of the folder: both refused."""
    outside = tmp_path / "x.onnx"
    shutil.copy(copy_of / "decoder.onnx", outside)
    edit_manifest(copy_of, lambda d: d["graphs"]["decoder"].update(file="../x.onnx"))
    with pytest.raises(WeightsError, match=r"file must be a file name in the folder"):
        read_manifest(copy_of)
    edit_manifest(copy_of, lambda d: d["graphs"]["decoder"].update(file="decoder.onnx"))
    (copy_of / "decoder.onnx").unlink()
    (copy_of / "decoder.onnx").symlink_to(outside)
    with pytest.raises(WeightsError, match=r"'decoder\.onnx' is outside the export folder"):
        read_manifest(copy_of)
    assert "is outside the export folder" in one_line_refusal(copy_of, capsys)
