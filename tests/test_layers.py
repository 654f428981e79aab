"""The package layers of DESIGN.md ("Layout"): each package imports only packages listed
above it, the package-level import graph has no cycle, and the emulators import
nothing from spacecal (tests/emulators/test_independent.py checks them file by file).

Every import counts, wherever it is written (module top, inside a function, under
TYPE_CHECKING): a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import spacecal

ROOT = Path(spacecal.__file__).parent

# Lowest first. A package may import any package of a lower tier; within a tier only
# where `SIBLINGS` says so (the leaf utilities use one another; the entry points start
# one another). A package not listed here fails the test until it is placed.
TIERS: list[set[str]] = [
    {
        "config",
        "clock",
        "crypto",
        "logs",
        "metrics",
        "configdoc",
        "failures",
        "jsontext",
        "recurrence",
    },  # leaf utilities
    {"domain"},
    {"db"},
    {"activity"},  # the activity counters (tables of db/)
    {"providers"},
    {"jobs"},
    {"bookings"},
    {"sync"},
    {"mail"},
    {"records"},
    {"outbound"},
    {"web"},
    {"api"},
    {"portal"},
    {"admin"},
    {"app"},  # the composition root: only entry points import it
    {"runner", "cli", "demo"},  # process entry points
]
SIBLINGS = {0, len(TIERS) - 1}
ENTRY_POINTS = TIERS[-1]
RANK = {package: index for index, tier in enumerate(TIERS) for package in tier}

# Inside sync/, by flow (lowest first): the shared modules at its top (naming, runtime,
# tokens, locks), then one reconcile, then the upkeep around it, then what starts
# them: intake (webhooks) and accounts (provisioning, consent, disconnect, changes).
SYNC_TIERS: list[set[str]] = [{""}, {"reconcile"}, {"upkeep"}, {"intake", "accounts"}]
SYNC_RANK = {part: index for index, tier in enumerate(SYNC_TIERS) for part in tier}


def _package(module: str) -> str | None:
    """The top-level package (or module) of `spacecal.x.y` -> `x`; None for spacecal
    itself (`from spacecal import __version__`)."""
    parts = module.split(".")
    if parts[0] != "spacecal" or len(parts) < 2:
        return None
    return parts[1]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _targets(path: Path) -> set[str]:
    """The spacecal modules `path` imports, resolved to absolute names."""
    module = _module_name(path)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            out.add(name)
            if name == "spacecal":  # `from spacecal import clock`: the module clock
                out.update(f"spacecal.{alias.name}" for alias in node.names)
    return {name for name in out if name.startswith("spacecal")}


def _graph() -> dict[tuple[str, str], set[str]]:
    """(importer package, imported package) -> the module edges behind it."""
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        source = _package(_module_name(path))
        if source is None:
            continue
        for target_module in _targets(path):
            target = _package(target_module)
            if target is None or target == source:
                continue
            if not (ROOT / target).is_dir() and not (ROOT / f"{target}.py").exists():
                continue  # a name imported from spacecal's __init__ (e.g. __version__)
            edges[(source, target)].add(f"{_module_name(path)} -> {target_module}")
    return edges


def _allowed(source: str, target: str) -> bool:
    if source == "emulators":
        return False
    if target == "emulators":
        return source in ENTRY_POINTS
    if RANK[target] < RANK[source]:
        return True
    return RANK[target] == RANK[source] and RANK[source] in SIBLINGS


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {
        path.stem if path.is_file() else path.name
        for path in ROOT.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert len(packages) > 15  # the tree really was found
    assert packages - set(RANK) - {"emulators"} == set()


def test_packages_import_only_packages_below_them() -> None:
    edges = _graph()
    wrong = sorted(
        f"{source} -> {target}: {', '.join(sorted(detail))}"
        for (source, target), detail in edges.items()
        if not _allowed(source, target)
    )
    assert wrong == []


def test_the_package_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in _graph():
        graph[source].add(target)
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path, node]))
        if node in done:
            return
        path.append(node)
        for target in sorted(graph[node]):
            visit(target)
        path.pop()
        done.add(node)

    for node in sorted(graph):
        visit(node)


def test_only_entry_points_import_the_composition_root() -> None:
    importers = {source for source, target in _graph() if target == "app"}
    assert importers <= ENTRY_POINTS


def _sync_part(module: str) -> str:
    """`spacecal.sync.reconcile.task` -> `reconcile`; a module at sync's top -> ``."""
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and (ROOT / "sync" / parts[2]).is_dir() else ""


def test_sync_sub_packages_import_only_lower_flows() -> None:
    wrong = []
    for path in sorted((ROOT / "sync").rglob("*.py")):
        source = _sync_part(_module_name(path))
        for target_module in _targets(path):
            if not target_module.startswith("spacecal.sync."):
                continue
            target = _sync_part(target_module)
            if target != source and SYNC_RANK[target] >= SYNC_RANK[source]:
                wrong.append(f"{_module_name(path)} -> {target_module}")
    assert wrong == []


def _module_graph() -> dict[str, set[str]]:
    """spacecal module -> the spacecal modules it imports (a package's `__init__` is
    the package's name; `from pkg import mod` is an edge to the module)."""
    modules = {
        _module_name(path): path
        for path in ROOT.rglob("*.py")
        if not _module_name(path).startswith("spacecal.emulators")
    }
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                name = next(iter(_targets_of_node(module, path, node)), "")
                for alias in node.names:
                    full = f"{name}.{alias.name}"
                    edges.add(full if full in modules else name)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
        graph[module] = {e for e in edges if e in modules and e != module}
    return graph


def _targets_of_node(module: str, path: Path, node: ast.ImportFrom) -> set[str]:
    if not node.level:
        return {node.module or ""}
    base = module.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return {".".join([*base, *([node.module] if node.module else [])])}


def test_no_module_imports_itself_through_others() -> None:
    """Module by module, lazy imports included: a cycle hidden inside one package
    (accounts' consent and provisioning once called each other) fails here."""
    graph = _module_graph()
    assert len(graph) > 100  # the tree really was read
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        for target in sorted(graph[node]):
            visit(target, [*path, node])
        done.add(node)

    for module in sorted(graph):
        visit(module, [])
