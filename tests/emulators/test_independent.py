"""The emulators import nothing from spacecal (DESIGN, Layout): no shared wire model
can hide a client bug, and they could be split out as a package of their own."""

from __future__ import annotations

import ast
from pathlib import Path

import spacecal.emulators

ROOT = Path(spacecal.emulators.__file__).parent


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_emulators_import_nothing_from_spacecal_proper() -> None:
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 20  # the package really was found
    outside = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in _imports(path)
        if name.split(".")[0] == "spacecal" and not name.startswith("spacecal.emulators")
    ]
    assert outside == []
