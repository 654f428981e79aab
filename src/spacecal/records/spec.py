"""What a record type is to the API: its name, path, table, fields and hooks.

The generic handlers in `api/crud.py` serve every record from one of these, so every
record type shares one implementation of search, paging, filters and envelopes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.ext.asyncio import AsyncConnection

from spacecal.records.fields import Field, Kind

COMMON_FIELDS = (
    "Id",
    "UniqueId",
    "CreatedOn",
    "UpdatedOn",
    "UpdatedBy",
    "IsNew",
    "SystemId",
    "ToStringText",
    "LocalizationDetails",
    "CustomFields",
)

# A hook sees the transaction, the values about to be written (by column name) and,
# on update, the row as it was; it raises ApiError to refuse, or mutates `values`.
WriteHook = Callable[[AsyncConnection, dict[str, Any], Mapping[str, Any] | None], Awaitable[None]]
# A delete hook also gets who deletes (the API user's email), for a row it keeps.
DeleteHook = Callable[[AsyncConnection, Mapping[str, Any], str], Awaitable[bool]]
AfterHook = Callable[[AsyncConnection, int], Awaitable[None]]


@dataclass(frozen=True)
class Computed:
    """A read-only field read from a joined table (e.g. CoworkerFullName)."""

    name: str
    column: ColumnElement[Any]
    filter_suffix: str  # e.g. "Coworker_FullName"
    kind: Kind = Kind.STR  # how the value is shown (the OpenAPI type); filters are text


@dataclass(frozen=True)
class RecordSpec:
    name: str
    path: str
    table: Table
    fields: tuple[Field, ...]
    description: str = ""
    aliases: tuple[str, ...] = ()
    scope: ColumnElement[bool] | None = None  # rows of this record type in a shared table
    fixed_values: Mapping[str, Any] = field(default_factory=dict)  # written on create
    computed: tuple[Computed, ...] = ()
    from_clause: Any = None  # the table, or the table joined to what `computed` reads
    to_string: Callable[[Mapping[str, Any]], str] = lambda row: str(row.get("name") or "")
    before_write: WriteHook | None = None
    after_write: AfterHook | None = None
    # Returns True when the hook already removed (or soft-deleted) the row.
    on_delete: DeleteHook | None = None
    delete_message: str = "was successfully deleted."
    # Nexudus serves most records under /api/spaces, system ones (WebHook) under /api/sys.
    prefix: str = "/api/spaces"

    @property
    def source(self) -> Any:
        return self.from_clause if self.from_clause is not None else self.table

    @property
    def base_path(self) -> str:
        return f"{self.prefix}/{self.path}"

    def field_by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def role(self, operation: str) -> str:
        return f"{self.name}-{operation}"
