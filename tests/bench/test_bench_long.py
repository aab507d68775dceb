"""`gsfm bench --long`: rows per memory setting, scores per part checked against the ground
truth of the generated videos, refusals in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gsfm.bench.long import LongConfig, measure_long, segment_long, setting_options
from gsfm.cli import main
from gsfm.evaluation.metrics import region_similarity
from gsfm.synthetic.long import make_long_clip

SMALL = ["--sizes", "96x48", "--device", "cpu", "--threads", "1", "--frames", "120"]


class Oracle:
    """A stand-in predictor that returns the ground truth, except that it labels object 1 in
    a fixed corner box on the frames in `wrong`."""

    def __init__(self, clip, wrong: set[int]) -> None:
        self.masks = np.concatenate([m for _, m in clip.chunks()])
        self.wrong = wrong
        self.object_ids: list[int] = []
        self.t = 0

    def reset(self) -> None:
        self.t = 0
        self.object_ids = []

    def step(self, frame, mask=None, probabilities=False, *, last_frame=False):
        labels = self.masks[self.t].copy()
        if self.t in self.wrong:
            labels[:4, :4] = 1
        self.object_ids = [1, 2][: int(labels.max()) or 1]
        self.t += 1
        return labels


def test_segment_long_scores_against_the_ground_truth():
    clip = make_long_clip(3, 200, 48, 96, 2, pace=0.3)
    masks = np.concatenate([m for _, m in clip.chunks()])
    absent = [~(masks == k).any(axis=(1, 2)) for k in (1, 2)]
    away = [t for t in range(1, 199) if absent[0][t]][:5]
    seen = [t for t in range(1, 199) if not absent[0][t]][:5]
    assert len(away) == len(seen) == 5
    oracle = Oracle(clip, wrong=set(away + seen))
    scorer, seconds = segment_long(oracle, clip, chunk=32)
    s = scorer.summary()
    # object 1: J = 0 on the 5 absent frames with the box, J = IoU(object, object + box) on
    # the 5 present ones, 1 elsewhere; object 2 is perfect. Frames 0 and 199 are not scored.
    j1 = np.ones(200)
    j1[away] = 0.0
    for t in seen:
        j1[t] = region_similarity(masks[t] == 1, (masks[t] == 1) | box())
    assert s["all"].j == pytest.approx((j1[1:-1].mean() + 1.0) / 2)
    scored_absent = int(absent[0][1:-1].sum() + absent[1][1:-1].sum())
    assert s["absent_empty"] == pytest.approx(1 - 5 / scored_absent)
    assert seconds >= 0


def box() -> np.ndarray:
    m = np.zeros((48, 96), bool)
    m[:4, :4] = True
    return m


def test_settings():
    assert setting_options("unbounded") == {}
    assert setting_options("fifo", 30) == {"max_memory_frames": 30}
    assert setting_options("long-term", 30) == {"memory": "long-term", "max_memory_frames": 30}
    assert setting_options("unbounded+presence") == {"memory": "long-term", "presence": True}
    for bad in ("fifo+presence", "lru", "long-term+x"):
        with pytest.raises(ValueError):
            setting_options(bad)


def test_measure_row_in_process():
    row = measure_long(
        LongConfig(
            "long-term 8",
            setting_options("long-term", 8),
            videos=(1,),
            length=150,
            height=48,
            width=96,
            threads=1,
        )
    )
    assert row["error"] is None and row["frames"] == 150 and row["objects"] == 2
    assert row["memory_frames"] <= 8 and row["fps"] > 0
    assert 0 <= row["all"]["jf"] <= 1


def test_cli(tmp_path, capsys):
    path = tmp_path / "long.json"
    args = ["bench", "--long", *SMALL, "--long-videos", "0", "--memory", "fifo", "--budget", "6"]
    assert main([*args, "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "fifo 6" in out and "absent empty" in out
    (row,) = json.loads(path.read_text())["rows"]
    assert row["error"] is None and row["options"] == {"max_memory_frames": 6}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--memory", "fifo+presence"], "--memory"),
        (["--budget", "3"], "--budget"),
        (["--frames", "50"], "--frames"),
        (["--long-videos", "-1"], "--long-videos"),
        (["--sizes", "20x20"], "32x32"),
    ],
)
def test_cli_refusals(extra, message, capsys):
    assert main(["bench", "--long", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gsfm bench: error:") and message in err
