"""The configuration reference (docs/configuration.md), generated from `config.py`.

`Settings` is the one place every knob lives, so the reference is written from it
rather than by hand: the environment variable, type, default, bounds and description
of each field, under the section comments of config.py (`# --- storage ---`), in
source order. `spacecal config reference` prints or writes it; a test keeps the
committed file equal to what this renders.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from spacecal import config
from spacecal.config import Settings

HEADER = """\
# Configuration reference

Generated from `src/spacecal/config.py` by `spacecal config reference --output
docs/configuration.md`; do not edit by hand (a test compares this file with the
generator's output).

Every setting is an environment variable: `SPACECAL_<NAME>` in upper case, except
`DATABASE_URL`, which keeps its conventional name. Time spans are settings too, so
tests and operators can shrink or stretch them. A process reads its settings once,
at start.
"""

_SECTION = re.compile(r"^\s*# --- (?P<name>.+?) -+\s*$")
_FIELD = re.compile(r"^    (?P<name>[a-z_][a-z0-9_]*): ")


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables a field is read from, preferred first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    return [f"SPACECAL_{name.upper()}"]


def _sections() -> dict[str, str]:
    """Field name -> the section comment above it in config.py."""
    current = "general"
    found: dict[str, str] = {}
    for line in inspect.getsource(config).splitlines():
        if match := _SECTION.match(line):
            current = match["name"].strip()
        elif (match := _FIELD.match(line)) and match["name"] in Settings.model_fields:
            found[match["name"]] = current
    return found


def _type(field: FieldInfo) -> str:
    text = str(field.annotation) if field.annotation is not None else "str"
    text = re.sub(r"<class '([\w.]+)'>", r"\1", text)
    text = text.replace("pathlib.Path", "path").replace("NoneType", "None")
    return text.replace("typing.", "")


def _default(field: FieldInfo) -> str:
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value.as_posix() if value.is_absolute() else './' + value.as_posix()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def _bounds(field: FieldInfo) -> str:
    parts = []
    for item in field.metadata:
        if isinstance(item, Ge):
            parts.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            parts.append(f"> {item.gt}")
        elif isinstance(item, Le):
            parts.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            parts.append(f"< {item.lt}")
    return ", ".join(parts)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render() -> str:
    """The whole reference, as Markdown."""
    sections = _sections()
    by_section: dict[str, list[str]] = {}
    for name in Settings.model_fields:
        by_section.setdefault(sections.get(name, "general"), []).append(name)
    out = [HEADER]
    for section, names in by_section.items():
        out.append(f"\n## {section[0].upper()}{section[1:]}\n")
        out.append("| variable | type | default | meaning |")
        out.append("|---|---|---|---|")
        for name in names:
            field = Settings.model_fields[name]
            variables = " or ".join(f"`{v}`" for v in env_names(name, field))
            kind = _type(field)
            bounds = _bounds(field)
            if bounds:
                kind = f"{kind} ({bounds})"
            meaning = _cell(field.description or "")
            out.append(f"| {variables} | {_cell(kind)} | {_default(field)} | {meaning} |")
    return "\n".join(out) + "\n"
