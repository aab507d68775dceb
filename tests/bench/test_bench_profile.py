from __future__ import annotations

import json

import pytest
import torch

from gsfm.bench.profile import (
    PER_OBJECT,
    STAGE_ORDER,
    format_profile,
    pipeline_totals,
    profile_frame,
    run_profile,
)
from gsfm.bench.report import write_json
from gsfm.model.network import GSFM
from gsfm.model.variants import get_config


@pytest.fixture(scope="module")
def tiny() -> GSFM:
    torch.manual_seed(0)
    return GSFM(get_config("gsfm-tiny")).eval()


def test_bench_profile_stages_grow_per_object(tiny):
    one = {s.name: s for s in profile_frame(tiny, 64, 96, 1, memory_frames=4)}
    two = {s.name: s for s in profile_frame(tiny, 64, 96, 2, memory_frames=4)}
    assert list(one) == list(STAGE_ORDER)
    for stats in (one, two):
        for s in stats.values():
            assert s.gflop > 0, s.name
            assert s.seconds >= 0, s.name
    assert two["key encoding"].gflop == pytest.approx(one["key encoding"].gflop)
    for name in PER_OBJECT:
        assert two[name].gflop > one[name].gflop, name
    assert one["value encoding"].per_frame == pytest.approx(1 / 3)


def test_bench_profile_totals_amortise_value_encoding(tiny):
    stats = profile_frame(tiny, 64, 96, 1, memory_frames=2, mem_every=2)
    gflop, seconds = pipeline_totals(stats)
    value = next(s for s in stats if s.name == "value encoding")
    others = sum(s.gflop for s in stats if s.name != "value encoding")
    assert gflop == pytest.approx(others + value.gflop / 2)
    assert seconds > 0


def test_bench_profile_padded_size_and_report(tmp_path):
    report = run_profile(
        ["cpu"],
        variants=["gsfm-tiny"],
        sizes=[(60, 90)],  # padded to 64x96, as the engine does
        objects=[1],
        precisions=["fp32"],
        memory_frames=2,
        peak_seconds=0.05,
    )
    (result,) = report.results
    assert (result.height, result.width) == (64, 96)
    assert result.share_of_peak is not None and result.share_of_peak > 0
    data = json.loads(write_json(tmp_path / "p.json", report.to_dict()).read_text())
    assert {"machine", "settings", "matmul_peak_gflop_per_s", "results"} <= set(data)
    stages = data["results"][0]["stages"]
    assert [s["name"] for s in stages] == list(STAGE_ORDER)
    assert data["results"][0]["frame"]["gflop"] > 0
    text = format_profile(report)
    assert "machine:" in text and "of peak" in text
