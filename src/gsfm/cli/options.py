"""Options that several verbs share, generated from the config dataclasses so that a flag's
name, type, default, choices and range check have one source: `EngineConfig` for the
engine's settings (segment, infer, demo), the device names for --device."""

from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, fields
from typing import Any

from gsfm.errors import OptionError
from gsfm.inference.config import DEVICES, EngineConfig

_ENGINE_FIELDS: dict[str, Field[Any]] = {
    f.name: f for f in fields(EngineConfig) if f.metadata.get("cli", True)
}


def flag(name: str) -> str:
    """A config field's command-line flag: top_k -> --top-k."""
    return "--" + name.replace("_", "-")


def add_engine_options(
    p: argparse.ArgumentParser,
    names: tuple[str, ...] = tuple(_ENGINE_FIELDS),
    *,
    defaults: dict[str, Any] | None = None,
    helps: dict[str, str] | None = None,
) -> None:
    """One --flag per `EngineConfig` field in `names`, default and help from the field
    (`defaults` / `helps` replace them where a verb differs, e.g. per-dataset defaults)."""
    defaults, helps = defaults or {}, helps or {}
    for name in names:
        f = _ENGINE_FIELDS[name]
        default = defaults.get(name, f.default)
        if default is None and f.metadata.get("zero_is_none") and name not in defaults:
            default = 0
        assert default is not MISSING
        choices = f.metadata.get("choices")
        text = helps.get(name) or f.metadata.get("help", "")
        if name not in helps:
            shown = default if default is not None else "-"
            text = f"{text} (default: {shown})".lstrip()
        p.add_argument(
            flag(name),
            type=str if choices else int,
            choices=choices,
            default=default,
            help=text,
        )


def engine_config(args: argparse.Namespace, **values: Any) -> EngineConfig:
    """The EngineConfig of the parsed engine options (a flag's 0 -> None where it stands for
    None), `values` replacing them; an out-of-range value is a one-line error about its flag."""
    given = {name: getattr(args, name) for name in _ENGINE_FIELDS if hasattr(args, name)}
    for name, value in given.items():
        if value == 0 and _ENGINE_FIELDS[name].metadata.get("zero_is_none"):
            given[name] = None
    given.update(values)
    try:
        return EngineConfig(**given)
    except OptionError as err:
        raise err.as_flag(bool(_ENGINE_FIELDS[err.option].metadata.get("zero_is_none"))) from None


def add_device_option(p: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """--device: one of DEVICES, or an indexed one such as cuda:1."""
    names = ", ".join(DEVICES[:-1]) + f" or {DEVICES[-1]}"
    p.add_argument("--device", default=default, help=f"{names} (default: {default or 'auto'})")
