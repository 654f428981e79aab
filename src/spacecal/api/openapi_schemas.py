"""The fixed parts of the OpenAPI document: the JSON schemas of the envelopes every
route answers with (errors, actions, tokens) and of the fields every record has.
`openapi.py` assembles the per-record schemas around them."""

from __future__ import annotations

from typing import Any

from spacecal.records.fields import Kind

KIND_SCHEMA: dict[Kind, dict[str, Any]] = {
    Kind.INT: {"type": "integer"},
    Kind.STR: {"type": "string"},
    Kind.BOOL: {"type": "boolean"},
    Kind.DATETIME: {"type": "string", "format": "date-time"},
    Kind.UUID: {"type": "string", "format": "uuid"},
    Kind.JSON: {"type": "object", "additionalProperties": True},
}

COMMON_FIELDS: dict[str, dict[str, Any]] = {
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
        "Alternatives": {
            "type": "array",
            "description": (
                "spacecal's extra, on a booking the space refuses (400): up to three free "
                "slots instead, the nearest of the same length on the same resource that "
                "day first, then the same slot on other resources of its kind. Empty when "
                "nothing helps; absent on other errors."
            ),
            "items": {
                "type": "object",
                "required": ["ResourceId", "ResourceName", "FromTime", "ToTime"],
                "properties": {
                    "ResourceId": {"type": "integer"},
                    "ResourceName": {"type": "string"},
                    "FromTime": {"type": "string", "format": "date-time"},
                    "ToTime": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {
        "error": {
            "type": "string",
            "enum": ["invalid_request", "invalid_grant", "unsupported_grant_type"],
        },
        "error_description": {"type": "string"},
    },
}

TOKEN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "refresh_token"],
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["bearer"]},
        "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"},
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
