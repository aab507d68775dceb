from __future__ import annotations

import json

import pytest
import torch

from gsfm.bench import pipeline as pl
from gsfm.bench.report import text_table, write_json

TINY = pl.PipelineConfig(
    variant="gsfm-tiny", height=64, width=96, frames=6, objects=2, cap=3, warmup=1, threads=1
)
ROW_KEYS = {
    "variant",
    "size",
    "frames",
    "objects",
    "cap",
    "device",
    "precision",
    "fps",
    "seconds_per_frame",
    "stage_ms_per_frame",
    "peak_memory_mb",
    "memory_growth_mb",
    "memory_frames",
    "error",
}


def test_bench_measure_config_in_process():
    row = pl.measure_config(TINY)
    assert row["error"] is None
    assert set(row) >= ROW_KEYS
    assert row["frames_done"] == 6
    assert row["fps"] > 0 and row["seconds_per_frame"] > 0
    assert row["peak_memory_mb"] > 0 and row["memory_growth_mb"] >= 0
    assert 2 <= row["memory_frames"] <= 3  # the cap holds
    stages = row["stage_ms_per_frame"]
    assert set(stages) == set(pl.STAGES)
    for name in ("encode_key", "read_memory", "decode", "encode_value"):
        assert stages[name] is not None and stages[name] >= 0
    assert stages["encode_key"] > 0 and stages["decode"] > 0


def test_bench_isolated_row_and_json(tmp_path):
    rows = pl.run_configs([TINY], isolate=True)
    assert len(rows) == 1 and rows[0]["error"] is None, rows[0].get("error")
    assert rows[0]["fps"] > 0 and rows[0]["peak_memory_mb"] > 0
    report = pl.PipelineReport(machine={"cpu": "x"}, settings={}, rows=rows)
    path = write_json(tmp_path / "bench.json", report.to_dict())
    data = json.loads(path.read_text())
    assert {"benchmark", "machine", "settings", "rows"} <= set(data)
    assert set(data["rows"][0]) >= ROW_KEYS
    table = pl.format_table(data["rows"])
    assert "gsfm-tiny" in table and "96x64" in table


def test_bench_failed_row_is_reported():
    bad = pl.PipelineConfig(variant="gsfm-tiny", height=64, width=96, device="nonsense")
    rows = pl.run_configs([bad], isolate=False)
    assert rows[0]["error"]
    assert "failed" in pl.format_table(rows)


def test_bench_default_rows_are_explicit():
    rows = pl.default_configs("cpu")
    described = {(r.variant, r.size_label, r.frames, r.cap) for r in rows}
    assert ("gsfm", "854x480", 5, None) in described
    assert ("gsfm-tiny", "854x480", 50, None) in described
    for frames in (200, 1000):
        assert ("gsfm-tiny", "224x128", frames, None) in described
        assert ("gsfm-tiny", "224x128", frames, 20) in described
    assert all(r.objects == 2 and r.device == "cpu" and r.precision == "fp32" for r in rows)
    # The long clips only for the tiny network at the small size.
    assert all(r.frames <= 50 for r in rows if r.variant == "gsfm" or r.height == 480)


def test_bench_full_grid_size():
    rows = pl.grid_configs(["cpu"])
    assert len(rows) == 2 * 2 * 3 * 2  # variants x sizes x frames x caps
    assert len({(r.variant, r.height, r.frames, r.cap) for r in rows}) == len(rows)


def test_bench_frames_hold_every_object():
    frames, first = pl.make_frames(32, 48, 3, pool=3)
    assert len(frames) == 3 and frames[0].shape == (32, 48, 3)
    assert set(range(1, 4)) <= set(first.ravel().tolist())
    assert len(list(pl.cycled(frames, 10))) == 10


def test_bench_stage_timers_observe_the_engine_untouched(tiny_engine):
    engine = tiny_engine
    frame = torch.zeros(3, 32, 48, dtype=torch.uint8)
    mask = torch.zeros(32, 48, dtype=torch.long)
    mask[4:20, 8:30] = 1
    with pl.StageTimers(engine.device) as timers:
        assert not vars(engine.network).keys() & {"encode_key", "decode", "encode_value"}
        engine.step(frame, mask)  # a given frame: key and value encoding, no memory read
        assert timers.seconds["encode_key"] > 0 and timers.seconds["encode_value"] > 0
        assert timers.seconds["read_memory"] == 0 and timers.seconds["decode"] == 0
        engine.step(frame)
        assert timers.seconds["read_memory"] > 0 and timers.seconds["decode"] > 0
    before = dict(timers.seconds)
    engine.step(frame)  # after the block: no longer observed
    assert timers.seconds == before


@pytest.fixture
def tiny_engine():
    from gsfm.inference.engine import InferenceEngine
    from gsfm.model.weights import load_network

    net, _ = load_network("random:gsfm-tiny")
    return InferenceEngine(net, device="cpu")


def test_bench_text_table_aligns_and_spans_failures():
    table = text_table(["name", "fps"], [["a", "1.5"], ["bbb", "12.25"], ["c failed: boom"]])
    lines = table.splitlines()
    assert lines[2] == "a       1.5"
    assert lines[3] == "bbb   12.25"
    assert lines[4] == "c failed: boom"
