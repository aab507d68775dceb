"""`gsfm bench first-mask`: the NoC bookkeeping worked out by hand, and the verb end to end on
a few objects."""

from __future__ import annotations

import json

import pytest

from gsfm.bench.first_mask import SetResult, Trial
from gsfm.cli import main


def test_noc_and_iou_after_k_corrections():
    trial = Trial("t", box_iou=0.6, ious=[0.5, 0.86, 0.84, 0.91], box_seconds=0.1)
    assert trial.noc(0.85, cap=20) == 1
    assert trial.noc(0.90, cap=20) == 3
    assert trial.noc(0.95, cap=20) == 20  # never reached: the cap
    assert trial.noc(0.40, cap=20) == 0  # the box was enough
    assert trial.iou_after(2) == 0.84 and trial.iou_after(5) == 0.91  # the user stopped at 3


def test_summary_of_a_set():
    trials = [
        Trial("a", 0.6, [0.5, 0.86, 0.84, 0.91], 0.1, [0.02, 0.04, 0.06]),
        Trial("b", 0.8, [0.95, 0.97], 0.3, [0.08]),
    ]
    summary = SetResult("s", (480, 854), trials, cap=20).summary()
    assert summary["size"] == "854x480" and summary["instances"] == 2
    assert summary["box_as_mask_iou"] == pytest.approx(0.7)
    assert summary["iou"]["0"] == pytest.approx(0.725)
    assert summary["iou"]["2"] == pytest.approx((0.84 + 0.97) / 2)
    assert summary["noc"]["0.85"] == pytest.approx(0.5)
    assert summary["noc"]["0.90"] == pytest.approx(1.5)
    assert summary["never_reached"] == {"0.85": 0, "0.90": 0}
    assert summary["worse_corrections"] == pytest.approx(1 / 4)  # 0.86 -> 0.84
    assert summary["box_ms"] == pytest.approx(200) and summary["box_ms_max"] == pytest.approx(300)
    assert summary["correction_ms"] == pytest.approx(50)


def test_bench_first_mask_end_to_end(tmp_path, capsys):
    path = tmp_path / "fm.json"
    args = ["bench", "first-mask", "--sets", "sample,hard", "--every", "24", "--videos", "1"]
    assert main([*args, "--clicks", "5", "--sizes", "216x120", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "NoC@0.85" in out and "ms/correction" in out and "sample" in out
    data = json.loads(path.read_text())
    assert "cores" in data["machine"] and data["protocol"]["max_clicks"] == 5
    sample, hard = data["sets"]
    assert sample["set"] == "sample" and sample["size"] == "432x240"
    assert sample["instances"] == 6  # frames 0 and 24, three objects each
    assert hard["set"] == "hard" and hard["size"] == "216x120" and hard["instances"] >= 1
    for row in (sample, hard):
        assert set(row["iou"]) == {"0", "1", "2", "3", "5"}
        assert 0 <= row["noc"]["0.90"] <= 5 and row["box_ms"] > 0
    assert sample["iou"]["0"] > sample["box_as_mask_iou"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sets", "davis"], "--sets"),
        (["--clicks", "3"], "--clicks"),
        (["--sizes", "480p,small"], "one size"),
    ],
)
def test_bench_first_mask_bad_options(extra, message, capsys):
    assert main(["bench", "first-mask", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gsfm bench: error:") and message in err


def test_options_change_the_config_by_name():
    from gsfm.cli.bench import first_mask_config
    from gsfm.errors import InputError

    config = first_mask_config(["grow=0", "max_pixels=12000", "reach=0.5"])
    assert (config.grow, config.max_pixels, config.reach) == (0.0, 12000, 0.5)
    assert isinstance(config.max_pixels, int)
    with pytest.raises(InputError, match="no such setting"):
        first_mask_config(["speed=2"])
    with pytest.raises(InputError, match="max_pixels"):
        first_mask_config(["max_pixels=1.5"])
    with pytest.raises(InputError, match="finite"):
        first_mask_config(["grow=nan"])
