"""Precision "auto": the networks in bf16 only where the CPU multiplies bf16 natively (read
from its flags, not assumed), fp32 elsewhere; the memory stays fp32."""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import torch

from gsfm.cli.options import INTERACTIVE, add_engine_options, engine_config
from gsfm.inference import device as device_module
from gsfm.inference.device import native_bf16, stage_precisions
from gsfm.inference.engine import InferenceEngine, channel_argmax
from gsfm.machine import cpu_flags
from tests.inference.clips import make_clip

CPU = torch.device("cpu")
EPYC = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512_bf16 fma\n"
AVX2 = "processor\t: 0\nflags\t\t: fpu sse avx avx2 fma\n"


def test_cpu_flags_read_from_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(EPYC)
    assert {"avx512_bf16", "avx2"} <= cpu_flags(path)
    path.write_text(AVX2 + "\nprocessor\t: 1\nflags\t\t: other\n")  # the first CPU's line
    assert cpu_flags(path) == {"fpu", "sse", "avx", "avx2", "fma"}
    assert cpu_flags(tmp_path / "missing") == frozenset()  # not Linux: no flags known


def test_native_bf16_needs_the_flag_and_a_cpu():
    assert native_bf16(CPU, frozenset({"avx512_bf16"}))
    assert native_bf16(CPU, frozenset({"amx_bf16", "amx_tile"}))
    assert not native_bf16(CPU, frozenset({"avx512f", "avx512bw", "avx2"}))  # emulated only
    assert not native_bf16(torch.device("cuda"), frozenset({"avx512_bf16"}))


def test_stage_precisions():
    bf16 = frozenset({"avx512_bf16"})
    assert stage_precisions("auto", CPU, bf16) == {
        "encode_key": "bf16",
        "decode": "bf16",
        "encode_value": "bf16",
    }
    assert set(stage_precisions("auto", CPU, frozenset({"avx2"})).values()) == {"fp32"}
    assert set(stage_precisions("bf16", CPU, frozenset()).values()) == {"bf16"}
    assert set(stage_precisions("fp32", CPU, bf16).values()) == {"fp32"}


def _stage_dtypes(engine: InferenceEngine, clip) -> dict[str, set[torch.dtype | None]]:
    """The autocast dtype each network stage was called under (None: autocast off)."""
    seen: dict[str, set[torch.dtype | None]] = {}

    def wrap(name: str):
        real = getattr(engine.network, name)

        def inner(*args, **kwargs):
            on = torch.is_autocast_enabled("cpu")
            seen.setdefault(name, set()).add(torch.get_autocast_dtype("cpu") if on else None)
            return real(*args, **kwargs)

        setattr(engine.network, name, inner)

    for name in ("encode_key", "decode", "encode_value"):
        wrap(name)
    for t, frame in enumerate(clip.frames):
        mask = torch.from_numpy(clip.labels[0]) if t == 0 else None
        engine.step(torch.from_numpy(frame).permute(2, 0, 1), mask)
    return seen


@pytest.mark.parametrize(("flags", "fast"), [(EPYC, torch.bfloat16), (AVX2, None)])
def test_auto_engine_runs_the_networks_in_bf16_only_with_native_bf16(
    tiny_net, monkeypatch, tmp_path, flags, fast
):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(flags)
    monkeypatch.setattr(device_module, "cpu_flags", lambda: cpu_flags(cpuinfo))
    engine = InferenceEngine(tiny_net, device="cpu", size=None, precision="auto", mem_every=1)
    seen = _stage_dtypes(engine, make_clip(3, 32, 48))
    assert seen == {"encode_key": {fast}, "decode": {fast}, "encode_value": {fast}}
    # the memory stays fp32: the read ranks fp32 scores and sums fp32 values
    assert engine.bank.keys_with_norms().dtype == torch.float32
    assert engine.bank.values_by_position().dtype == torch.float32


def test_segment_and_serve_default_to_auto_the_dataset_runs_to_fp32():
    p = argparse.ArgumentParser()
    add_engine_options(p, ("precision", "size"), **INTERACTIVE)
    assert engine_config(p.parse_args([])).precision == "auto"
    plain = argparse.ArgumentParser()
    add_engine_options(plain, ("precision",))
    assert engine_config(plain.parse_args([])).precision == "fp32"


def test_channel_argmax_is_argmax_with_first_channel_on_ties():
    g = torch.Generator().manual_seed(0)
    prob = torch.randint(0, 3, (4, 30, 40), generator=g).float()  # many exact ties
    ids = [0, 3, 7, 250]
    want = torch.tensor(ids)[prob.argmax(dim=0)]
    assert torch.equal(channel_argmax(prob, ids), want)
    assert torch.equal(channel_argmax(prob[:1], [0]), torch.zeros(30, 40, dtype=torch.long))
    assert np.array_equal(channel_argmax(prob[:2], [0, 9]).unique().numpy(), [0, 9])
