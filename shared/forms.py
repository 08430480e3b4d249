"""Request bodies: form-urlencoded or JSON, size-capped, each field at most once.

RFC 6749 §3.2: parameters must not be included more than once; a duplicate is
a rejection, not a last-one-wins.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from .errors import InvalidRequest, PayloadTooLarge
from .web import Request

MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"


def read_fields(request: Request) -> dict[str, str]:
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes", reason="body_too_large")
    media_type = (request.header("content-type") or "").split(";")[0].strip().lower()
    if media_type == FORM:
        return _form(request.body)
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json(request.body)
    raise InvalidRequest(f"send the request as {FORM} or application/json", reason="content_type_unsupported")


def _form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is not valid UTF-8 form encoding", reason="form_malformed") from None
    return _unique(pairs)


def _json(body: bytes) -> dict[str, str]:
    try:
        payload = json.loads(body, object_pairs_hook=_unique_json)
    except _Duplicate as exc:
        raise InvalidRequest(exc.description, reason="field_duplicated") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("the JSON body is not valid JSON", reason="json_malformed") from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the JSON body must be an object", reason="json_malformed")
    fields = {}
    for name, value in payload.items():
        if not isinstance(value, str):
            raise InvalidRequest(f"field {_shown(name)} must be a string", reason="field_not_string")
        fields[name] = value
    return fields


def _unique_json(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise _Duplicate(f"field {_shown(name)} appears more than once")
        seen[name] = value
    return seen


class _Duplicate(InvalidRequest, ValueError):
    """Raised inside json.loads, which only lets ValueError through."""


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InvalidRequest(f"field {_shown(name)} appears more than once", reason="field_duplicated")
        fields[name] = value
    return fields


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 40 and name.isprintable() else "(unprintable name)"
