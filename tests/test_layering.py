"""Dependency direction: each room of `src/gsfm` imports only rooms on floors below it, the
procedural world stays out of the readers, and no two modules import each other.

Imports are read from the source (module level and inside functions alike), so a deferred
import counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import gsfm

ROOT = Path(gsfm.__file__).parent

# Lowest first; a room may import its own modules and any room on a lower floor.
FLOORS: list[set[str]] = [
    {"errors"},
    {"atomic", "outputs", "ownership", "extras", "machine", "arguments", "digest", "background"},
    {"data", "first_mask"},
    {"synthetic", "model", "evaluation"},
    {"inference"},
    {"export"},
    {"bench", "serve", "train"},
    {"cli"},
]
FLOOR = {room: level for level, rooms in enumerate(FLOORS) for room in rooms}
# The command line's entry points (`python -m gsfm`, `python -m gsfm.bench`, and
# `python -m gsfm.infer` = `gsfm infer`, the module torchrun runs) stand above everything.
ENTRY_POINTS = {"gsfm.__main__", "gsfm.bench.__main__", "gsfm.infer"}
# Third-party modules the procedural world may use.
SYNTHETIC_THIRD_PARTY = {"numpy", "cv2", "scipy", "skimage"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(gsfm modules, top-level third-party names) imported anywhere in the file."""
    ours, theirs = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            # `from pkg import module` imports the module; `from pkg import name` the package
            modules = [s for s in subs if s in MODULES]
            names = modules if len(modules) == len(subs) else [node.module, *modules]
        else:
            continue
        for name in names:
            if name == "gsfm" or name.startswith("gsfm."):
                ours.add(name)
            else:
                theirs.add(name.split(".")[0])
    return ours, theirs


GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _room(module: str) -> str | None:
    """The room (second name component) of a gsfm module; None for the root package."""
    parts = module.split(".")
    return None if len(parts) == 1 else parts[1]


def test_every_room_has_a_floor():
    rooms = {_room(m) for m in MODULES} - {None, "__main__", "infer"}
    assert rooms - set(FLOOR) == set()


def test_no_module_imports_a_room_above_or_beside_its_own():
    offenders = []
    for module, (ours, _) in GRAPH.items():
        room = _room(module)
        # The root package (lazy public names) and the entry points may import anything.
        if room is None or module in ENTRY_POINTS:
            continue
        for target in ours:
            other = _room(target)
            if other is None or other == room:  # `import gsfm` is the package itself
                continue
            if target in ENTRY_POINTS or FLOOR[other] >= FLOOR[room]:
                offenders.append(f"{module} -> {target}")
    assert offenders == []


def test_no_library_module_imports_gsfm_cli():
    offenders = [
        m
        for m, (ours, _) in GRAPH.items()
        if _room(m) != "cli" and m not in ENTRY_POINTS and any(_room(t) == "cli" for t in ours)
    ]
    assert offenders == []


def test_readers_never_import_the_procedural_world():
    offenders = [
        f"{m} -> {t}"
        for m, (ours, _) in GRAPH.items()
        if _room(m) == "data"
        for t in ours
        if _room(t) == "synthetic"
    ]
    assert offenders == []


def test_procedural_world_imports_only_data_and_numeric_libraries():
    offenders = []
    for module, (ours, theirs) in GRAPH.items():
        if _room(module) != "synthetic":
            continue
        offenders += [f"{module} -> {t}" for t in ours if _room(t) not in {"synthetic", "data"}]
        stdlib = {n for n in theirs if n in __import__("sys").stdlib_module_names}
        offenders += [f"{module} -> {t}" for t in theirs - stdlib - SYNTHETIC_THIRD_PARTY]
    assert offenders == []


def test_no_import_cycles_between_modules():
    """No module reaches itself through its imports (a package's __init__ excepted: importing
    `gsfm.inference.x` runs `gsfm/inference/__init__.py` first without depending on it)."""
    edges = {
        m: {t for t in ours if t in MODULES and not m.startswith(t + ".")}
        for m, (ours, _) in GRAPH.items()
    }
    cycles = []
    for start in edges:
        seen, stack = set(), list(edges[start])
        while stack:
            node = stack.pop()
            if node == start:
                cycles.append(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(edges.get(node, ()))
    assert cycles == []
