"""Request bodies: form-urlencoded or JSON, size-capped, UTF-8, each field at most once.

RFC 6749 §3.2: parameters must not be included more than once; a duplicate is
a rejection, not a last-one-wins.  A ``charset`` other than UTF-8 is refused
(415) rather than guessed: the same bytes would mean other characters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from shared.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from shared.http import Request
from shared.reasons import Reason

MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"
UTF8_NAMES = frozenset({"utf-8", "utf8"})


def read_fields(request: Request, *, duplicate_reasons: Mapping[str, str] | None = None) -> dict[str, str]:
    """The body's fields; a repeated field is refused with ``duplicate_reasons[name]`` or ``field_duplicated``."""
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes", reason=Reason.BODY_TOO_LARGE)
    media_type, *parameters = (request.header("content-type") or "").split(";")
    media_type = media_type.strip().lower()
    _check_charset(parameters)
    reasons = duplicate_reasons or {}
    if media_type == FORM:
        return _form(request.body, reasons)
    if media_type == "application/json" or media_type.endswith("+json"):
        return _json(request.body, reasons)
    raise InvalidRequest(f"send the request as {FORM} or application/json", reason=Reason.CONTENT_TYPE_UNSUPPORTED)


def _check_charset(parameters: list[str]) -> None:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in UTF8_NAMES:
            raise UnsupportedMediaType(
                "send the body in UTF-8 (charset=utf-8, or no charset)", reason=Reason.CHARSET_UNSUPPORTED
            )


def _form(body: bytes, reasons: Mapping[str, str]) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the form body is not valid UTF-8 form encoding", reason=Reason.FORM_MALFORMED) from None
    return _unique(pairs, reasons)


def _json(body: bytes, reasons: Mapping[str, str]) -> dict[str, str]:
    try:
        payload = json.loads(body, object_pairs_hook=_unique_json)
    except _Duplicate as exc:
        raise InvalidRequest(exc.description, reason=reasons.get(exc.name, Reason.FIELD_DUPLICATED)) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("the JSON body is not valid JSON", reason=Reason.JSON_MALFORMED) from None
    if not isinstance(payload, dict):
        raise InvalidRequest("the JSON body must be an object", reason=Reason.JSON_MALFORMED)
    fields = {}
    for name, value in payload.items():
        if not isinstance(value, str):
            raise InvalidRequest(f"field {_shown(name)} must be a string", reason=Reason.FIELD_NOT_STRING)
        fields[name] = value
    return fields


def _unique_json(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            raise _Duplicate(name)
        seen[name] = value
    return seen


class _Duplicate(InvalidRequest, ValueError):
    """Raised inside json.loads, which only lets ValueError through."""

    def __init__(self, name: str) -> None:
        super().__init__(f"field {_shown(name)} appears more than once")
        self.name = name


def _unique(pairs: list[tuple[str, str]], reasons: Mapping[str, str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise InvalidRequest(
                f"field {_shown(name)} appears more than once", reason=reasons.get(name, Reason.FIELD_DUPLICATED)
            )
        fields[name] = value
    return fields


def _shown(name: str) -> str:
    return repr(name) if len(name) <= 40 and name.isprintable() else "(unprintable name)"
