"""The registered tasks keep their stored names: job rows and trigger SQL hold them,
and queued outbound deliveries exist only as job rows. A renamed task would strand
every queued job of it, so the names are pinned to this frozen list."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import spacecal.runner  # noqa: F401  (imports every module that registers a task)
from spacecal import jobs
from spacecal.jobs.app import make_app

FROZEN = {
    "spacecal.reconcile": "sync",
    "spacecal.keepalive": "sync",
    "spacecal.stop_orphans": "sync",
    "spacecal.mark_calendars": "sync",
    "spacecal.sweep": "sync",
    "spacecal.renewal": "sync",
    "spacecal.prune": "sync",
    "spacecal.recover_stalled": "sync",
    "spacecal.resume_setups": "sync",
    "spacecal.outbound.deliver": "outbound",
    "spacecal.mail.process": "mail",
    "spacecal.mail.prune": "mail",
    "spacecal.mail.send": "outbound",
    "spacecal.mail.horizon": "sync",
}
SRC = Path(__file__).resolve().parents[2] / "src" / "spacecal"


def test_the_stored_names_are_frozen() -> None:
    assert jobs.names.QUEUE_OF == FROZEN


def test_the_app_registers_exactly_the_frozen_names() -> None:
    app = make_app("postgresql://unused/", periodic=True)
    ours = {name: task.queue for name, task in app.tasks.items() if task.queue != "builtin"}
    assert ours == FROZEN
    assert {p.task.name for p in app.periodic_registry.periodic_tasks.values()} == {
        "spacecal.sweep",
        "spacecal.renewal",
        "spacecal.prune",
        "spacecal.recover_stalled",
        "spacecal.resume_setups",
        "spacecal.mail.prune",
        "spacecal.mail.send",
        "spacecal.mail.horizon",
    }


def test_only_jobs_imports_procrastinate() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "jobs"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(m == "procrastinate" or m.startswith("procrastinate.") for m in modules):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_jobs_imports_nothing_above_it() -> None:
    above = ("spacecal.sync", "spacecal.outbound", "spacecal.api", "spacecal.runner")
    for path in (SRC / "jobs").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(above), (path.name, node.module)
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith(above) for a in node.names), path.name


def test_an_app_missing_a_registration_refuses_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from spacecal.jobs import registry

    kept = {n: t for n, t in registry.registered().items() if n != "spacecal.outbound.deliver"}
    monkeypatch.setattr(registry, "_registered", kept)
    with pytest.raises(RuntimeError, match=r"spacecal\.outbound\.deliver"):
        make_app("postgresql://unused/")


def test_a_name_is_registered_once_and_only_if_stored() -> None:
    async def other(runtime: object) -> None:
        pass

    with pytest.raises(ValueError, match="registered twice"):
        jobs.task("spacecal.reconcile")(other)
    with pytest.raises(ValueError, match="not a stored task name"):
        jobs.task("spacecal.renamed")(other)
