"""A database row as the Nexudus record the API answers (and outbound webhooks send):
the fields of its spec plus the common ones every record carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spacecal.records.errors import iso
from spacecal.records.spec import RecordSpec


def row_to_record(spec: RecordSpec, row: Mapping[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for f in spec.fields:
        if f.column is not None and not f.secret:
            record[f.name] = f.dump(row[f.column])
    for comp in spec.computed:
        record[comp.name] = row[comp.name]
    created, updated = row["created_on"], row["updated_on"]
    record.update(
        {
            "Id": row["id"],
            "UniqueId": str(row["unique_id"]),
            "CreatedOn": iso(created),
            "UpdatedOn": iso(updated),
            "UpdatedBy": row["updated_by"],
            # Nexudus: "whether the record was recently created": never updated since.
            "IsNew": created == updated,
            "SystemId": row["system_id"],
            "ToStringText": spec.to_string(row),
            "LocalizationDetails": None,
            "CustomFields": None,
        }
    )
    return record
