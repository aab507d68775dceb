"""Engine flags generated from EngineConfig: defaults, 0 = None, one range check."""

from __future__ import annotations

import argparse

import pytest

from gsfm.cli.options import add_engine_options, engine_config
from gsfm.errors import InputError, OptionError
from gsfm.inference.config import PRECISIONS, EngineConfig


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_engine_options(p)
    return p


def test_defaults_are_the_configs():
    assert engine_config(parser().parse_args([])) == EngineConfig()
    assert EngineConfig().size == 480 and EngineConfig().max_memory_frames is None


def test_zero_stands_for_none_where_the_field_allows_it():
    args = parser().parse_args(["--size", "0", "--max-memory-frames", "0", "--top-k", "7"])
    assert engine_config(args) == EngineConfig(size=None, max_memory_frames=None, top_k=7)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--top-k", "0"], "--top-k must be at least 1, got 0"),
        (["--mem-every", "0"], "--mem-every must be at least 1, got 0"),
        (["--size", "8"], "--size must be 0 (native) or at least 16, got 8"),
        (["--max-memory-frames", "1"], "--max-memory-frames must be 0 (unbounded) or at least 2"),
    ],
)
def test_range_errors_name_the_flag(argv, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        engine_config(parser().parse_args(argv))


def test_config_errors_are_input_and_value_errors():
    with pytest.raises(OptionError) as err:
        EngineConfig(top_k=0)
    assert isinstance(err.value, ValueError) and isinstance(err.value, InputError)
    with pytest.raises(SystemExit):
        parser().parse_args(["--precision", "fp8"])
    assert parser().parse_args(["--precision", PRECISIONS[1]]).precision == "bf16"
