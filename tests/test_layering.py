"""Dependency direction: the library never imports its command line."""

from __future__ import annotations

import re
from pathlib import Path

import gsfm

ROOT = Path(gsfm.__file__).parent
# The command line itself and the `python -m gsfm` / `python -m gsfm.bench` entry points, and
# `python -m gsfm.infer` (= `gsfm infer`, the module torchrun runs).
ALLOWED = {"__main__.py", "bench/__main__.py", "infer.py"}


def test_no_library_module_imports_gsfm_cli():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("cli/") or rel in ALLOWED:
            continue
        if re.search(r"^\s*(from|import)\s+gsfm\.cli\b", path.read_text(), re.M):
            offenders.append(rel)
    assert offenders == []
