"""OpenAPI schemas with the Nexudus field names, built from the RecordSpecs.

Handlers read their bodies themselves (JSON or form) and answer prebuilt JSON, so the
schema is added here rather than inferred from type hints.
"""

from __future__ import annotations

from typing import Any

from spacecal.api.fields import Field, Kind
from spacecal.api.spec import RecordSpec

_KIND_SCHEMA: dict[Kind, dict[str, Any]] = {
    Kind.INT: {"type": "integer"},
    Kind.STR: {"type": "string"},
    Kind.BOOL: {"type": "boolean"},
    Kind.DATETIME: {"type": "string", "format": "date-time"},
    Kind.UUID: {"type": "string", "format": "uuid"},
    Kind.JSON: {"type": "object", "additionalProperties": True},
}

_COMMON: dict[str, dict[str, Any]] = {
    "Id": {"type": "integer"},
    "UniqueId": {"type": "string", "format": "uuid"},
    "CreatedOn": {"type": "string", "format": "date-time"},
    "UpdatedOn": {"type": "string", "format": "date-time"},
    "UpdatedBy": {"type": ["string", "null"]},
    "IsNew": {"type": "boolean"},
    "SystemId": {"type": ["string", "null"]},
    "ToStringText": {"type": "string"},
    "LocalizationDetails": {"type": "null"},
    "CustomFields": {"type": "null"},
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Status": {"type": "integer"},
        "Message": {"type": "string"},
        "Value": {"type": "null"},
        "WasSuccessful": {"type": "boolean"},
        "Errors": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "properties": {
                    "AttemptedValue": {},
                    "Message": {"type": "string"},
                    "PropertyName": {"type": ["string", "null"]},
                },
            },
        },
    },
}

ACTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "Status": {"type": "integer"},
        "Message": {"type": "string"},
        "Value": {"type": "object", "properties": {"Id": {"type": "integer"}}},
        "OpenInDialog": {"type": "boolean"},
        "OpenInWindow": {"type": "boolean"},
        "RedirectURL": {"type": "null"},
        "JavaScript": {"type": "null"},
        "UpdatedOn": {"type": "string", "format": "date-time"},
        "UpdatedBy": {"type": ["string", "null"]},
        "Errors": {"type": "null"},
        "WasSuccessful": {"type": "boolean"},
    },
}


def _field_schema(f: Field) -> dict[str, Any]:
    schema = dict(_KIND_SCHEMA[f.kind])
    if f.nullable:
        schema["type"] = [schema["type"], "null"]
    if f.max_length is not None and f.kind is Kind.STR:
        schema["maxLength"] = f.max_length
    if f.description:
        schema["description"] = f.description
    if f.read_only or f.column is None:
        schema["readOnly"] = True
    return schema


def record_schema(spec: RecordSpec) -> dict[str, Any]:
    props = {f.name: _field_schema(f) for f in spec.fields}
    for comp in spec.computed:
        props[comp.name] = {"type": ["string", "null"], "readOnly": True}
    props.update(_COMMON)
    return {"type": "object", "description": spec.description, "properties": props}


def input_schema(spec: RecordSpec, *, with_id: bool) -> dict[str, Any]:
    props = {
        f.name: _field_schema(f) for f in spec.fields if not f.read_only and f.column is not None
    }
    required = [f.name for f in spec.fields if f.required]
    if with_id:
        props["Id"] = {"type": "integer"}
        required.append("Id")
    return {"type": "object", "properties": props, "required": required}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def add_record_schemas(schema: dict[str, Any], specs: tuple[RecordSpec, ...]) -> dict[str, Any]:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ERROR_SCHEMA
    components["ActionEnvelope"] = ACTION_SCHEMA
    errors = {
        "400": {"description": "Invalid input", "content": _json("ErrorEnvelope")},
        "401": {"description": "Not authenticated", "content": _json("ErrorEnvelope")},
        "403": {"description": "Missing role", "content": _json("ErrorEnvelope")},
    }
    for spec in specs:
        components[spec.name] = record_schema(spec)
        components[f"{spec.name}Create"] = input_schema(spec, with_id=False)
        components[f"{spec.name}Update"] = input_schema(spec, with_id=True)
        components[f"{spec.name}SearchResult"] = {
            "type": "object",
            "properties": {
                "Records": {
                    "type": "array",
                    "items": {"$ref": f"#/components/schemas/{spec.name}"},
                },
                **{
                    k: {"type": "integer"}
                    for k in (
                        "CurrentPage",
                        "CurrentPageSize",
                        "CurrentSortDirection",
                        "FirstItem",
                        "LastItem",
                        "TotalItems",
                        "TotalPages",
                    )
                },
                "CurrentOrderField": {"type": "string"},
                "HasNextPage": {"type": "boolean"},
                "HasPreviousPage": {"type": "boolean"},
            },
        }
        base = f"/api/spaces/{spec.path}"
        paths = schema.get("paths", {})
        collection, item = paths.get(base, {}), paths.get(base + "/{id}", {})
        if "get" in collection:
            op = collection["get"]
            op["description"] = (
                "Search with `page`, `size`, `orderBy`, `dir` and `<Record>_<Field>` filters; "
                "`from_`/`to_` ranges on dates. With `id=[1,2,3]`, get many: a JSON array."
            )
            op["parameters"] = _search_parameters(spec)
            op["responses"] = {
                "200": {
                    "description": "A page of records",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": f"#/components/schemas/{spec.name}SearchResult"},
                                    {
                                        "type": "array",
                                        "items": {"$ref": f"#/components/schemas/{spec.name}"},
                                    },
                                ]
                            }
                        }
                    },
                },
                **errors,
            }
        for method, suffix in (("post", "Create"), ("put", "Update")):
            if method in collection:
                op = collection[method]
                op["requestBody"] = {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": f"#/components/schemas/{spec.name}{suffix}"}
                        },
                        "application/x-www-form-urlencoded": {
                            "schema": {"$ref": f"#/components/schemas/{spec.name}{suffix}"}
                        },
                    },
                }
                op["responses"] = {
                    "200": {"description": "Done", "content": _json("ActionEnvelope")},
                    **errors,
                }
                if method == "put":
                    op["responses"]["404"] = {
                        "description": "No such record",
                        "content": _json("ErrorEnvelope"),
                    }
        for method in ("get", "delete"):
            if method in item:
                op = item[method]
                op["parameters"] = [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ]
                ok = _json(spec.name) if method == "get" else _json("ActionEnvelope")
                op["responses"] = {
                    "200": {"description": "Done", "content": ok},
                    **errors,
                    "404": {"description": "No such record", "content": _json("ErrorEnvelope")},
                }
    return schema


def _search_parameters(spec: RecordSpec) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
        {"name": "size", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 25}},
        {"name": "orderBy", "in": "query", "schema": {"type": "string", "default": "Id"}},
        {"name": "dir", "in": "query", "schema": {"type": "integer", "enum": [0, 1], "default": 0}},
        {
            "name": "id",
            "in": "query",
            "description": "Get many: [1,2,3]",
            "schema": {"type": "string"},
        },
    ]
    for f in spec.fields:
        if f.column is None or f.kind is Kind.JSON:
            continue
        schema = dict(_KIND_SCHEMA[f.kind])
        params.append({"name": f"{spec.name}_{f.filter_name}", "in": "query", "schema": schema})
        if f.kind is Kind.DATETIME:
            for bound in ("from", "to"):
                params.append(
                    {
                        "name": f"{bound}_{spec.name}_{f.name}",
                        "in": "query",
                        "schema": {"type": "string"},
                    }
                )
    for comp in spec.computed:
        params.append(
            {
                "name": f"{spec.name}_{comp.filter_suffix}",
                "in": "query",
                "schema": {"type": "string"},
            }
        )
    return params
