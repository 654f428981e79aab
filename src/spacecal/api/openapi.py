"""OpenAPI schemas with the Nexudus field names, built from the RecordSpecs.

Handlers read their bodies themselves (JSON or form) and answer prebuilt JSON, so the
schema is added here rather than inferred from type hints.
"""

from __future__ import annotations

from typing import Any

from spacecal.api.openapi_schemas import (
    ACTION_SCHEMA,
    COMMON_FIELDS,
    ERROR_SCHEMA,
    KIND_SCHEMA,
    OAUTH_ERROR_SCHEMA,
    TOKEN_SCHEMA,
)
from spacecal.records.fields import Field, Kind
from spacecal.records.spec import RecordSpec


def _field_schema(f: Field) -> dict[str, Any]:
    schema = dict(KIND_SCHEMA[f.kind])
    if f.nullable:
        schema["type"] = [schema["type"], "null"]
    if f.max_length is not None and f.kind is Kind.STR:
        schema["maxLength"] = f.max_length
    if f.kind is Kind.STR and not f.nullable and not f.read_only:
        schema["minLength"] = 1  # blank is refused as "is a required field"
    if f.description:
        schema["description"] = f.description
    if f.read_only or f.column is None:
        schema["readOnly"] = True
    if f.secret:
        schema["writeOnly"] = True
    return schema


def record_schema(spec: RecordSpec) -> dict[str, Any]:
    props = {f.name: _field_schema(f) for f in spec.fields if not f.secret}
    for comp in spec.computed:
        shown = KIND_SCHEMA[comp.kind]["type"]
        props[comp.name] = {"type": [shown, "null"], "readOnly": True}
    props.update(COMMON_FIELDS)
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
    components["OAuthError"] = OAUTH_ERROR_SCHEMA
    components["TokenResponse"] = TOKEN_SCHEMA
    schema["components"]["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "From POST /api/token"},
        "basic": {"type": "http", "scheme": "basic", "description": "email:password"},
    }
    # Every operation needs a Bearer token or Basic credentials, except where `security`
    # is emptied below (health, the token endpoint itself).
    schema["security"] = [{"bearer": []}, {"basic": []}]
    errors = {
        "400": {"description": "Invalid input", "content": _json("ErrorEnvelope")},
        "401": {"description": "Not authenticated", "content": _json("ErrorEnvelope")},
        "403": {"description": "Missing role", "content": _json("ErrorEnvelope")},
        "429": {
            "description": "Too many failed sign-ins (HTTP Basic); see Retry-After",
            "content": _json("ErrorEnvelope"),
        },
    }
    body_errors = {
        "413": {"description": "Body larger than 256 KiB", "content": _json("ErrorEnvelope")},
        "415": {"description": "Body neither JSON nor a form", "content": _json("ErrorEnvelope")},
    }
    _document_other_routes(schema, errors)
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
        base = spec.base_path
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
                    **body_errors,
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


def _document_other_routes(schema: dict[str, Any], errors: dict[str, Any]) -> None:
    """The routes that are not records: health, the token endpoint, sign-in links."""
    paths = schema.get("paths", {})
    plain = {"application/json": {"schema": {"type": "object"}}}
    for path, responses in (
        ("/healthz", {"200": {"description": "The process answers", "content": plain}}),
        (
            "/readyz",
            {
                "200": {"description": "Ready", "content": plain},
                "503": {"description": "Database unreachable or behind", "content": plain},
            },
        ),
    ):
        if "get" in paths.get(path, {}):
            paths[path]["get"]["responses"] = responses
            paths[path]["get"]["security"] = []
    metrics = paths.get("/metrics", {}).get("get")
    if metrics is not None:
        metrics["security"] = []
        metrics["responses"] = {
            "200": {
                "description": "Prometheus text exposition format (counters, no ids or secrets)",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        }
    token = paths.get("/api/token", {}).get("post")
    if token is not None:
        oauth_error = {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}}
        token["security"] = []
        token["responses"] = {
            "200": {
                "description": "A new access and refresh token",
                "content": _json("TokenResponse"),
            },
            "400": {"description": "Refused (RFC 6749 error)", "content": oauth_error},
            "429": {"description": "Too many failed sign-ins", "content": oauth_error},
        }
    link = paths.get("/api/spaces/coworkers/{id}/signinlink", {}).get("post")
    if link is not None:
        link["parameters"] = [
            {
                "name": "id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }
        ]
        link["responses"] = {
            "200": {
                "description": "The link (it works once)",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "Status": {"type": "integer"},
                                "Message": {"type": "string"},
                                "Value": {
                                    "type": "object",
                                    "required": ["Id", "Url", "ExpiresOn"],
                                    "properties": {
                                        "Id": {"type": "integer"},
                                        "Url": {"type": "string"},
                                        "ExpiresOn": {"type": "string", "format": "date-time"},
                                    },
                                },
                                "UpdatedOn": {"type": "string", "format": "date-time"},
                                "UpdatedBy": {"type": ["string", "null"]},
                                "Errors": {"type": "null"},
                                "WasSuccessful": {"type": "boolean"},
                            },
                        }
                    }
                },
            },
            **errors,
            "404": {"description": "No such coworker", "content": _json("ErrorEnvelope")},
        }


def _filter_schema(kind: Kind) -> dict[str, Any]:
    """A filter's value; an empty one is ignored (Nexudus's own forms send them)."""
    schema = dict(KIND_SCHEMA[kind])
    if kind is Kind.STR:
        return schema
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


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
        if f.column is None or f.kind is Kind.JSON or f.secret:
            continue
        params.append(
            {
                "name": f"{spec.name}_{f.filter_name}",
                "in": "query",
                "schema": _filter_schema(f.kind),
            }
        )
        if f.kind is Kind.DATETIME:
            for bound in ("from", "to"):
                params.append(
                    {
                        "name": f"{bound}_{spec.name}_{f.name}",
                        "in": "query",
                        "schema": _filter_schema(Kind.DATETIME),
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
