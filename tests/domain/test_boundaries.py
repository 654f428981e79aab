"""The domain layer imports nothing from db, api, providers or sync, and does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import spacecal.domain

DOMAIN = Path(spacecal.domain.__file__).parent
ALLOWED_ROOTS = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "enum",
    "itertools",
    "re",
    "typing",
    "uuid",
    "zoneinfo",
    "dateutil",
    "pydantic",
    "spacecal",
}
FORBIDDEN = ("spacecal.db", "spacecal.api", "spacecal.providers", "spacecal.sync")


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_domain_imports_only_pure_modules() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) >= 10
    for path in files:
        for name in _imports(path):
            assert name.split(".")[0] in ALLOWED_ROOTS, f"{path.name} imports {name}"
            assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"
            if name.startswith("spacecal"):
                assert name.startswith("spacecal.domain"), f"{path.name} imports {name}"


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from spacecal.db import models\nimport os\n")
    assert _imports(bad) == ["spacecal.db", "os"]
