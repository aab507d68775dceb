"""`gsfm export` and `--backend onnxruntime` from the command line."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from gsfm import extras
from gsfm.cli import main
from tests.inference.clips import make_clip
from tests.permissions import needs_permissions

from .conftest import CHECK_FRAMES


def test_export_with_check_prints_the_comparison(tiny_export):
    assert tiny_export.code == 0
    out = tiny_export.stdout
    assert sorted(p.name for p in tiny_export.folder.iterdir()) == [
        "decoder.onnx",
        "gsfm-onnx.json",
        "key_encoder.onnx",
        "value_encoder.onnx",
    ]
    assert re.search(r"exported gsfm-tiny .*opset \d+", out)
    assert f"check: {CHECK_FRAMES} frames of the sample clip at 432x240, 3 objects" in out
    diff = float(re.search(r"largest probability difference: (\S+);", out).group(1))
    assert diff <= 1e-4
    assert re.search(r"pytorch: [\d.]+ frames/s", out)
    assert re.search(r"onnxruntime: [\d.]+ frames/s \(CPUExecutionProvider\)", out)


def test_export_refuses_a_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["export", "gsfm-tiny", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and len(err.strip().splitlines()) == 1
    assert main(["export", "gsfm-tiny", "--out", str(tmp_path / "o"), "--opset", "12"]) == 2
    assert "--opset must be at least 17" in capsys.readouterr().err


def test_missing_extra_names_it(monkeypatch, tmp_path, capsys):
    real = extras.importlib.util.find_spec
    monkeypatch.setattr(
        extras.importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("onnx") else real(name, *a),
    )
    assert main(["export", "gsfm-tiny", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "gsfm export: error: gsfm export needs the [onnx] extra (onnx, onnxscript, "
        "onnxruntime not installed): pip install 'gsfm[onnx]'"
    )
    argv = ["segment", "in", "--mask", "m", "--out", "o", "--backend", "onnxruntime"]
    assert main([*argv, "--onnx", str(tmp_path)]) == 2
    assert "--backend onnxruntime needs the [onnx] extra" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "onnxruntime"], "--backend onnxruntime needs --onnx DIR"),
        (["--onnx", "x"], "--onnx DIR is used with --backend onnxruntime only"),
    ],
)
def test_backend_options_are_checked(tmp_path, capsys, argv, message):
    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(frames / "00000.png")
    mask = tmp_path / "m.png"
    Image.fromarray(np.pad(np.ones((8, 8), np.uint8), 12)).save(mask)
    code = main(["segment", str(frames), "--mask", str(mask), "--out", str(tmp_path / "o"), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_segment_on_onnxruntime_writes_the_masks_pytorch_writes(tiny_export, tmp_path, capsys):
    clip = make_clip(8, 64, 96, n_objects=2, seed=5)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(frames / f"{i:05d}.png")
    mask = Image.fromarray(clip.labels[0], mode="P")
    mask.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * 759)
    mask.save(tmp_path / "m.png")
    common = [str(frames), "--mask", str(tmp_path / "m.png"), "--device", "cpu", "--size", "0"]
    assert main(["segment", *common, "--out", str(tmp_path / "a")]) == 0
    argv = ["--out", str(tmp_path / "b"), "--backend", "onnxruntime", "--onnx"]
    assert main(["segment", *common, *argv, str(tiny_export.folder)]) == 0
    capsys.readouterr()
    same = total = 0
    for i in range(8):
        a = np.asarray(Image.open(tmp_path / "a" / f"{i:05d}.png"))
        b = np.asarray(Image.open(tmp_path / "b" / f"{i:05d}.png"))
        same, total = same + int((a == b).sum()), total + a.size
    assert same / total >= 0.999


def test_infer_on_onnxruntime_records_the_backend(tiny_export, tmp_path, capsys):
    import json

    from gsfm.inference.runner import MANIFEST
    from gsfm.synthetic.fixtures import write_fixture

    root = write_fixture("davis2017", tmp_path / "d17", videos=1, frames=4, size=(64, 96))
    common = ["--dataset", "davis2017", "--root", str(root), "--device", "cpu", "--size", "64"]
    argv = ["--backend", "onnxruntime", "--onnx", str(tiny_export.folder)]
    assert main(["infer", *common, "--out", str(tmp_path / "a"), *argv]) == 0
    settings = json.loads((tmp_path / "a" / MANIFEST).read_text())
    assert json.dumps(settings).count(str(tiny_export.folder)) == 1
    assert "onnxruntime" in json.dumps(settings)
    # Resuming the same folder with the torch backend would mix results: refused.
    assert main(["infer", *common, "--out", str(tmp_path / "a")]) == 2
    assert "backend 'onnxruntime' -> None" in capsys.readouterr().err


def test_resume_with_another_export_in_the_onnx_folder_is_refused(tiny_export, tmp_path, capsys):
    """Issue 25 case 6, ONNX: the folder's manifest and graphs are hashed with the settings;
    a graph replaced (with a manifest to match) before a resume is refused in one line."""
    import hashlib
    import json
    import shutil

    from gsfm.export.manifest import MANIFEST_NAME
    from gsfm.synthetic.fixtures import write_fixture

    folder = tmp_path / "export"
    shutil.copytree(tiny_export.folder, folder)
    root = write_fixture("davis2017", tmp_path / "d17", videos=1, frames=4, size=(64, 96))
    out = tmp_path / "out"
    argv = ["infer", "--dataset", "davis2017", "--root", str(root), "--device", "cpu"]
    argv += ["--size", "64", "--out", str(out), "--backend", "onnxruntime", "--onnx", str(folder)]
    assert main(argv) == 0
    assert main(argv) == 0 and "1 already finished" in capsys.readouterr().out  # same export

    graph = folder / "decoder.onnx"  # another export's graph, its manifest entry updated
    data = bytearray(graph.read_bytes())
    data[-64] ^= 0xFF
    graph.write_bytes(bytes(data))
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    digest = hashlib.sha256(bytes(data)).hexdigest()
    manifest["graphs"]["decoder"].update(bytes=len(data), sha256=digest)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "weights_sha256" in err[0] and "content differs" in err[0], err


@pytest.fixture
def no_network(monkeypatch):
    """Refusals come before the network is loaded: loading it fails the test."""
    import gsfm.model.weights as weights

    def forbidden(*args, **kwargs):
        raise AssertionError("the network was loaded")

    monkeypatch.setattr(weights, "load_network", forbidden)


def _refused(capsys, argv: list[str], message: str) -> None:
    assert main(["export", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("gsfm export: error: ") and message in err, err


def test_out_under_a_file_is_refused_before_loading(tmp_path, capsys, no_network):
    """Issue 25 case 10: the output checks `gsfm segment` makes, before anything."""
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    _refused(capsys, ["gsfm-tiny", "--out", str(blocker / "onnx")], "is a file, not a folder")
    _refused(capsys, ["gsfm-tiny", "--out", str(blocker)], "exists and is not a folder")
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"weights")
    _refused(capsys, [str(weights), "--out", str(weights)], "is the weights file")
    assert blocker.read_text() == "mine" and weights.read_bytes() == b"weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "w.safetensors"]


@needs_permissions
def test_out_in_a_read_only_folder_is_refused_before_loading(tmp_path, capsys, no_network):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        _refused(capsys, ["gsfm-tiny", "--out", str(ro / "onnx")], "no write permission")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)
