"""Every numeric option of every verb parses with the one `gsfm.arguments.Number` type:
nan, inf and values that make no sense are refused in one line, exit code 2, before anything
runs (issue 25, case 9)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from gsfm.arguments import Number, UsageError
from gsfm.cli import build_parser, main


def _parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, parser) of the whole tree: gsfm, gsfm VERB, gsfm data COMMAND."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _train_parser() -> argparse.ArgumentParser:
    """The parser of `python -m gsfm.train` (what torchrun runs)."""
    from gsfm.arguments import Parser
    from gsfm.train.options import add_arguments

    p = Parser(prog="python -m gsfm.train")
    add_arguments(p)
    return p


def _numeric_options() -> list[tuple[tuple[str, ...], str, Number]]:
    found = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action.type, Number) and action.option_strings:
                found.append((path, action.option_strings[-1], action.type))
    return found


NUMERIC = _numeric_options()


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@pytest.mark.parametrize("parser", [build_parser, _train_parser], ids=["gsfm", "gsfm.train"])
def test_every_numeric_option_parses_with_number(parser):
    offenders = []
    for path, p in _parsers(parser()):
        for action in p._actions:
            numeric = action.type in (int, float) or (
                _is_number(action.default) and not isinstance(action.type, Number)
            )
            if numeric:
                offenders.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert offenders == []
    assert len(NUMERIC) >= 30  # the walk finds them: every verb has some


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
@pytest.mark.parametrize(
    ("path", "option"),
    [(p, o) for p, o, _ in NUMERIC],
    ids=[f"{' '.join(p)} {o}" for p, o, _ in NUMERIC],
)
def test_non_finite_values_are_refused_while_parsing(path, option, value):
    with pytest.raises(UsageError, match=rf"argument {option}: .*{re.escape(repr(value))}"):
        build_parser().parse_args([*path, f"{option}={value}"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--max-upload-mb", "0"], "--max-upload-mb: must be positive, got '0'"),
        (["serve", "--max-upload-mb", "-5"], "--max-upload-mb: must be positive"),
        (["serve", "--max-upload-mb", "nan"], "--max-upload-mb: expected a finite number"),
        (["serve", "--max-upload-mb", "inf"], "--max-upload-mb: expected a finite number"),
        (["serve", "--idle-minutes", "nan"], "--idle-minutes: expected a finite number"),
        (["serve", "--idle-minutes", "0"], "--idle-minutes: must be positive"),
        (["serve", "--idle-minutes", "-1"], "--idle-minutes: must be positive"),
        (["serve", "--idle-minutes", "1e300"], "--idle-minutes: must be at most 1e+07"),
        (["serve", "--max-session-gb", "0"], "--max-session-gb: must be positive"),
        (["serve", "--max-session-gb", "nan"], "--max-session-gb: expected a finite number"),
        (["serve", "--port", "0"], "--port: must be at least 1, got '0'"),
        (["serve", "--port", "70000"], "--port: must be at most 65535"),
        (["serve", "--port", "80.5"], "--port: expected an integer, got '80.5'"),
        (["evaluate", "--workers", "0"], "--workers: must be at least 1"),
        (["export", "w", "--check-frames", "1"], "--check-frames: must be at least 2"),
        (["bench", "--threads", "0"], "--threads: must be at least 1"),
        (["bench", "--warmup", "-1"], "--warmup: must be at least 0"),
        (["bench", "--repeats", "0"], "--repeats: must be at least 1"),
        (["bench", "--memory-frames", "0"], "--memory-frames: must be at least 1"),
        (["bench", "--peak-seconds", "0"], "--peak-seconds: must be positive"),
        (["data", "fixture", "--seed", "-1"], "--seed: must be at least 0"),
        (["data", "fixture", "--videos", "0"], "--videos: must be at least 1"),
        (["data", "fixture", "--frames", "0"], "--frames: must be at least 1"),
        (["data", "benchmark", "--videos", "0"], "--videos: must be at least 1"),
        (["data", "benchmark", "--frames", "2"], "--frames: must be at least 3"),
    ],
)
def test_values_that_make_no_sense_are_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    verb = " ".join(a for a in argv[:2] if not a.startswith("-") and a != "w")
    assert err.strip() == f"gsfm {verb}: error: argument {message}" or (
        err.startswith(f"gsfm {verb}: error: argument ") and message in err
    )
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "usage" not in err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--lr", "0", "--lr must be positive"),
        ("--lr", "nan", "--lr: expected a finite number"),
        ("--weight-decay", "-1", "--weight-decay must be at least 0"),
        ("--gamma", "0", "--gamma must be positive"),
        ("--top-p", "0", "--top-p must be in (0, 1]"),
        ("--top-p", "inf", "--top-p: expected a finite number"),
        ("--boundary-weight", "-0.5", "--boundary-weight must be at least 0"),
        ("--iterations", "0", "--iterations must be at least 1"),
        ("--num-frames", "1", "--num-frames must be at least 2"),
        ("--log-every", "0", "--log-every must be at least 1"),
        ("--seed", "-3", "--seed must be at least 0"),
        ("--milestones", "-5", "--milestones must be iterations >= 0"),
        ("--threads", "-1", "--threads must be at least 0"),
        ("--merge-prob", "nan", "--merge-prob: expected a finite number"),
    ],
)
def test_training_numbers_are_checked_before_anything_runs(
    tmp_path, capsys, option, value, message
):
    pytest.importorskip("cv2")  # the [train] extra
    from gsfm.train.__main__ import main as train_main

    base = ["--stage", "0", "--saves", str(tmp_path), "--no-tensorboard"]
    for run in (lambda a: main(["train", *a]), train_main):
        assert run([*base, option, value]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_a_number_type_error_names_the_type_and_the_value():
    with pytest.raises(argparse.ArgumentTypeError, match="expected an integer, got 'x'"):
        Number(int)("x")
    with pytest.raises(argparse.ArgumentTypeError, match="expected a number, got 'x'"):
        Number(float)("x")
    assert Number(float, above=0)("1e-3") == 0.001 and Number(int, minimum=0)("0") == 0
