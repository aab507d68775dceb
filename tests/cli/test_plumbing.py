"""Options reach the engine, and YouTube-VOS 2018 runs end to end (untrained weights).

The memory cap is checked by what the engine does (its memory frame count after every frame),
not by the arguments it was built with.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gsfm.cli import main
from gsfm.data import youtube
from gsfm.inference.engine import InferenceEngine
from gsfm.synthetic.fixtures import write_fixture
from tests.inference.clips import make_clip

H, W = 48, 64
NETWORK: list = []


@pytest.fixture(autouse=True)
def _fast_network(monkeypatch):
    """One untrained network for every run (fixed seed) and one torch thread."""
    import gsfm.inference.predictor as predictor
    from gsfm.model.weights import load_network

    if not NETWORK:
        torch.manual_seed(0)
        NETWORK.append(load_network("random:gsfm-tiny"))
    monkeypatch.setattr(predictor, "load_network", lambda *a, **k: NETWORK[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def memory_counts(monkeypatch) -> list[int]:
    """The engine's number of memory frames after every frame it is given."""
    counts: list[int] = []
    step = InferenceEngine.step

    def spy(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        counts.append(self.memory_frames)
        return out

    monkeypatch.setattr(InferenceEngine, "step", spy)
    return counts


def save_input(folder: Path, frames: int = 8) -> tuple[Path, Path]:
    clip = make_clip(frames, H, W, n_objects=2)
    (folder / "frames").mkdir(parents=True)
    for i, frame in enumerate(clip.frames):
        Image.fromarray(frame).save(folder / "frames" / f"{i:05d}.jpg")
    mask = Image.fromarray(clip.labels[0].astype(np.uint8), mode="P")
    mask.putpalette([0, 0, 0, 200, 0, 0, 0, 200, 0] + [0] * (253 * 3))
    mask.save(folder / "mask.png")
    return folder / "frames", folder / "mask.png"


@pytest.mark.parametrize(("cap", "most"), [("3", 3), ("0", 7)])
def test_segment_max_memory_frames_caps_the_engine_memory(
    tmp_path, capsys, memory_counts, cap, most
) -> None:
    """8 frames, a memory frame every frame (the last one is never written): 7 unbounded."""
    frames, mask = save_input(tmp_path)
    argv = ["segment", str(frames), "--mask", str(mask), "--out", str(tmp_path / "out")]
    argv += ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "0"]
    code = main([*argv, "--mem-every", "1", "--max-memory-frames", cap])
    assert code == 0, capsys.readouterr().err
    assert len(memory_counts) == 8
    assert max(memory_counts) == most
    assert memory_counts[:3] == [1, 2, 3]


@pytest.mark.parametrize(
    ("flags", "kind", "presence"),
    [([], "long-term", True), (["--memory", "plain", "--presence", "off"], "plain", False)],
)
def test_segment_long_inputs_get_the_long_term_memory_and_the_presence_test(
    tmp_path, capsys, monkeypatch, flags, kind, presence
) -> None:
    """Over LONG_INPUT_FRAMES (lowered here to 7) frames: the 4-frame long-term memory with
    the presence test, unless asked otherwise; seen from the engine that ran."""
    import gsfm.inference.config as engine_settings

    monkeypatch.setattr(engine_settings, "LONG_INPUT_FRAMES", 7)
    monkeypatch.setattr(engine_settings, "LONG_INPUT_CAP", 4)
    seen, counts = [], []
    step = InferenceEngine.step

    def spy(self, *args, **kwargs):
        out = step(self, *args, **kwargs)
        seen.append((type(self.bank).__name__, self.presence is not None, self.bank.max_frames))
        counts.append(self.memory_frames)
        return out

    monkeypatch.setattr(InferenceEngine, "step", spy)
    frames, mask = save_input(tmp_path)
    argv = ["segment", str(frames), "--mask", str(mask), "--out", str(tmp_path / "out")]
    argv += ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "0", "--mem-every", "1"]
    assert main([*argv, *flags]) == 0, capsys.readouterr().err
    bank = "LongTermMemory" if kind == "long-term" else "MemoryBank"
    assert set(seen) == {(bank, presence, 4)}
    # the plain cap fills up; the presence test writes 30 frames late (none of these 8 yet)
    assert max(counts) == (1 if presence else 4)


def test_infer_memory_is_unbounded_with_the_asked_mem_every(
    tmp_path, capsys, memory_counts
) -> None:
    """Benchmark runs keep every memory frame (`gsfm infer` has no memory cap option)."""
    root = write_fixture("davis2017", tmp_path / "d17", videos=1, frames=6, size=(H, W))
    argv = ["infer", "--dataset", "davis2017", "--root", str(root), "--out", str(tmp_path / "o")]
    argv += ["--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "48"]
    assert main([*argv, "--mem-every", "1"]) == 0, capsys.readouterr().err
    assert memory_counts == [1, 2, 3, 4, 5, 5]
    memory_counts.clear()
    assert main([*argv, "--mem-every", "2", "--overwrite"]) == 0, capsys.readouterr().err
    assert memory_counts == [1, 1, 2, 2, 3, 3]


def test_youtube2018_end_to_end_zip(tmp_path, capsys) -> None:
    """Fixture -> `gsfm infer --dataset youtube2018` -> the upload zip: one PNG per scored
    (every-5th) frame at the original size, each object from its own first frame on, the
    given annotation reproduced where it is given, and the zip holding the folder's files."""
    root = write_fixture("youtube2018", tmp_path / "yt18", videos=2, frames=3, size=(H, W))
    out = tmp_path / "out"
    argv = ["infer", "--dataset", "youtube2018", "--root", str(root), "--out", str(out)]
    code = main([*argv, "--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "48"])
    assert code == 0, capsys.readouterr().err
    meta = youtube.read_meta(root / "valid" / "meta.json")
    assert len(meta) == 2
    scored = {vid: sorted({f for fs in objs.values() for f in fs}) for vid, objs in meta.items()}
    with zipfile.ZipFile(out / "youtube2018-valid.zip") as archive:
        members = archive.namelist()
        expected = [f"Annotations/{v}/{n}.png" for v, names in scored.items() for n in names]
        assert members == expected
        for member in members:
            _, vid, name = member.split("/")
            assert archive.read(member) == (out / vid / name).read_bytes()
    for vid, objects in meta.items():
        for name in scored[vid]:
            with Image.open(out / vid / f"{name}.png") as img:
                assert img.mode == "P" and img.size == (W, H)
                labels = np.array(img)
            given = root / "valid" / "Annotations" / vid / f"{name}.png"
            if given.exists():
                with Image.open(given) as img:
                    annotation = np.array(img)
                new = annotation > 0
                assert np.array_equal(labels[new], annotation[new])  # given masks are kept
            for obj, frames in objects.items():
                if name < frames[0]:
                    assert int(obj) not in labels


@pytest.mark.parametrize(
    ("dataset", "top_k"), [("davis2016", 20), ("davis2017", 50), ("youtube2019", 50)]
)
def test_infer_defaults_are_the_original_evaluation_scripts(
    tmp_path, capsys, monkeypatch, memory_counts, dataset, top_k
) -> None:
    """The original eval_davis_2016.py / eval_davis.py / eval_youtube.py default to
    --top 20 / 50 / 50 and --mem_every 3: what the engine is built with and does."""
    built: list[int | None] = []
    init = InferenceEngine.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append(self.config.top_k)

    monkeypatch.setattr(InferenceEngine, "__init__", spy)
    frames = 2 if dataset.startswith("youtube") else 6  # YouTube: kept frames -> 6 in all
    root = write_fixture(dataset, tmp_path / "d", videos=1, frames=frames, size=(H, W))
    argv = ["infer", "--dataset", dataset, "--root", str(root), "--out", str(tmp_path / "o")]
    code = main([*argv, "--weights", "random:gsfm-tiny", "--device", "cpu", "--size", "48"])
    assert code == 0, capsys.readouterr().err
    assert built == [top_k]
    if not dataset.startswith("youtube"):  # one object set from frame 0: a write every 3rd
        assert memory_counts == [1, 1, 1, 2, 2, 2]
