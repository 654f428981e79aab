"""The deployment files say only what spacecal understands: the configuration
reference is what config.py generates today, every variable the image, the
process-manager units, the example environment and docs/deployment.md name is a real
setting, and every command they run parses with spacecal's own CLI.

(No container engine runs on the CI machine, so the image is checked statically here:
its commands and copied paths; docs/deployment.md says how to build and run it.)
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from spacecal.cli.main import build_parser, main
from spacecal.config import Settings
from spacecal.configdoc import env_names, render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY_FILES = [
    ROOT / "Containerfile",
    ROOT / "docs" / "deployment.md",
    *sorted((ROOT / "deploy").rglob("*")),
]
VARIABLE = re.compile(r"\b(SPACECAL_[A-Z0-9_]+|DATABASE_URL)\b")


def _known_variables() -> set[str]:
    known: set[str] = set()
    for name, field in Settings.model_fields.items():
        known.update(env_names(name, field))
    return known


def test_the_configuration_reference_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    committed = ROOT / "docs" / "configuration.md"
    assert committed.read_text(encoding="utf-8") == render(), (
        "docs/configuration.md is stale: uv run spacecal config reference "
        "--output docs/configuration.md"
    )
    assert main(["config", "reference", "--check", str(committed)]) == 0
    for name, field in Settings.model_fields.items():
        assert field.description, f"config.py: {name} has no description for the reference"
        assert f"`{env_names(name, field)[0]}`" in committed.read_text(encoding="utf-8")


def test_the_check_fails_on_a_stale_reference(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text(render().replace("SPACECAL_DB_POOL_SIZE", "SPACECAL_POOL"))
    assert main(["config", "reference", "--check", str(stale)]) == 1
    assert main(["config", "reference", "--output", str(stale)]) == 0
    assert main(["config", "reference", "--check", str(stale)]) == 0


def test_every_variable_named_for_deployment_is_a_setting() -> None:
    known = _known_variables()
    for path in DEPLOY_FILES:
        if path.is_file():
            named = set(VARIABLE.findall(path.read_text(encoding="utf-8")))
            # `SPACECAL_GOOGLE_*` in prose names a family, not one variable.
            unknown = {v for v in named if not v.endswith("_")} - known
            assert not unknown, f"{path.relative_to(ROOT)} names unknown settings {unknown}"


def _commands() -> list[tuple[str, list[str]]]:
    found = []
    for unit in sorted((ROOT / "deploy" / "systemd").glob("*.service")):
        for line in unit.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.removeprefix("ExecStart=").replace("%i", "8000"))
                assert argv[0].endswith("/spacecal"), line
                found.append((unit.name, argv[1:]))
    image = (ROOT / "Containerfile").read_text()
    entry = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", image, re.M).group(1))  # type: ignore[union-attr]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", image, re.M).group(1))  # type: ignore[union-attr]
    assert entry == ["spacecal"]
    found.append(("Containerfile", cmd))
    for line in image.splitlines():  # the usage lines at the top
        if match := re.match(r"#\s+docker run .* spacecal( [a-z].*?)\s*(#.*)?$", line):
            found.append(("Containerfile usage", shlex.split(match.group(1))))
    return found


def test_every_deployed_command_parses() -> None:
    commands = _commands()
    assert {name for name, _ in commands} >= {
        "spacecal-api@.service",
        "spacecal-worker@.service",
        "spacecal-migrate.service",
        "Containerfile",
    }
    parser = build_parser()
    for where, argv in commands:
        args = parser.parse_args(argv)
        assert hasattr(args, "func"), f"{where}: {argv} is not a command"
    api = parser.parse_args(dict(commands)["spacecal-api@.service"])
    assert api.no_worker and api.port == 8000


def test_the_image_copies_paths_that_exist() -> None:
    for line in (ROOT / "Containerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"Containerfile copies missing {source}"
