"""`gsfm bench --segment`: the clip, the interleaved runs, what a row reports; one real run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from gsfm.bench import segment as sg
from gsfm.cli import main
from gsfm.data.masks import read_labels, read_mask
from gsfm.data.video import open_frames

# A stand-in for `gsfm`: `fake.py LOG SHIFT segment VIDEO --mask M --out DIR --overwrite`
# appends its name to LOG, burns a little CPU, and writes the ground-truth masks shifted by
# SHIFT pixels (0: perfect masks).
FAKE = """
import sys, time, numpy as np
from pathlib import Path
from gsfm.data.masks import DAVIS_PALETTE, write_palette_png
log, shift, _, video = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = Path(sys.argv[sys.argv.index("--out") + 1])
out.mkdir(parents=True, exist_ok=True)
with open(log, "a") as fh:
    fh.write(f"{shift}\\n")
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
truth = np.load(video + ".truth.npy")
for i, labels in enumerate(truth):
    write_palette_png(out / f"{i:05d}.png", np.roll(labels, shift, axis=1), DAVIS_PALETTE)
"""


def test_clip_is_a_video_with_its_first_mask(tmp_path):
    clip = sg.write_clip(tmp_path, 5, (48, 64))
    source = open_frames(clip.video)
    assert len(source) == 5 and source.size == (48, 64)
    assert clip.truth.shape == (5, 48, 64)
    assert np.array_equal(read_mask(clip.mask).labels, clip.truth[0])
    assert set(np.unique(clip.truth[0])) == {0, 1}  # one object, in the first frame
    again = sg.write_clip(tmp_path / "again", 5, (48, 64))
    assert np.array_equal(again.truth, clip.truth)  # the same clip every time


def test_runs_interleave_and_rows_score_the_masks(tmp_path, monkeypatch):
    real = sg.write_clip

    def with_truth(folder, frames, size):
        clip = real(folder, frames, size)
        np.save(str(clip.video) + ".truth.npy", clip.truth)
        return clip

    monkeypatch.setattr(sg, "write_clip", with_truth)
    fake, log = tmp_path / "fake.py", tmp_path / "order.log"
    fake.write_text(FAKE)
    commands = [
        ("perfect", [sys.executable, str(fake), str(log), "0"]),
        ("shifted", [sys.executable, str(fake), str(log), "9"]),
    ]
    rows = sg.run_segment_bench(commands, [6], (48, 64), repeats=2, workdir=tmp_path)
    assert log.read_text().split() == ["0", "9", "0", "9"]  # A, B, A, B
    perfect, shifted = rows
    assert (perfect.command, perfect.frames, perfect.size) == ("perfect", 6, "64x48")
    assert len(perfect.walls) == len(perfect.cpus) == 2
    assert all(cpu >= 0.2 for cpu in perfect.cpus + shifted.cpus)  # the child's CPU time
    assert all(wall >= cpu * 0.5 for wall, cpu in zip(perfect.walls, perfect.cpus))
    assert perfect.jf == 1.0 and perfect.same_as_first == 1.0
    assert shifted.jf < 0.9 and shifted.same_as_first < 1.0
    assert perfect.to_dict()["fps"] == pytest.approx(6 / perfect.wall)


def test_a_failing_command_is_one_line(tmp_path):
    commands = [("broken", [sys.executable, "-c", "import sys; sys.exit('no luck')"])]
    with pytest.raises(Exception, match="segment failed: no luck"):
        sg.run_segment_bench(commands, [3], (32, 32), repeats=1, workdir=tmp_path)


def test_compare_needs_segment_and_an_executable(capsys, tmp_path):
    assert main(["bench", "--compare", "gsfm"]) == 2
    assert "--compare goes with --segment" in capsys.readouterr().err
    assert main(["bench", "--segment", "--compare", str(tmp_path / "nothing")]) == 2
    assert "no such executable" in capsys.readouterr().err


@pytest.mark.slow
def test_segment_bench_end_to_end(tmp_path, capsys):
    """The real command on a small clip: a row per command, the masks written and scored."""
    path = tmp_path / "segment.json"
    args = ["bench", "--segment", "--sizes", "96x64", "--frames", "4", "--repeats", "1"]
    assert main([*args, "--threads", "1", "--json", str(path)]) == 0
    assert "frames/s" in capsys.readouterr().out
    (row,) = json.loads(path.read_text())["rows"]
    assert row["command"] == "this" and row["frames"] == 4 and row["size"] == "96x64"
    assert row["wall_s"] > 0 and row["cpu_s"] > 0 and 0 <= row["jf"] <= 1


def test_masks_are_read_by_frame_name(tmp_path):
    from gsfm.data.masks import DAVIS_PALETTE, write_palette_png

    labels = [np.full((4, 5), i % 2, np.uint8) for i in range(3)]
    for i, lab in enumerate(labels):
        write_palette_png(Path(tmp_path) / f"{i:05d}.png", lab, DAVIS_PALETTE)
    assert np.array_equal(sg.read_masks(tmp_path, 3), np.stack(labels))
    assert np.array_equal(read_labels(tmp_path / "00001.png"), labels[1])
