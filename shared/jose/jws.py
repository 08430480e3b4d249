"""The pre-check every token passes before PyJWT sees it: what the contract needs and PyJWT does not check.

PyJWT signs and verifies every JWS of ours (``shared/jose/verify.py``, ``shared/jose/keys.py``); nothing here
touches a signature or a key.  This module only refuses, cheaply and with a reason, compact
serializations that PyJWT would take or would read differently from another library:

* exactly three segments, each canonical base64url without padding (PyJWT accepts trailing ``=``);
* header and payload are UTF-8 JSON objects with no duplicate member names at any depth (PyJWT's
  ``json.loads`` keeps the last one, so ``{"alg":"none","alg":"RS256"}`` would read as RS256) and no
  ``NaN``/``Infinity``/``-Infinity`` literals (not JSON, RFC 8259 §6);
* a size cap, before anything is decoded;
* no ``crit`` header (we support no extension) and no ``b64`` header (RFC 7797 unencoded payloads,
  which PyJWT implements and we never want).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")


class MalformedJWS(ValueError):
    """Refused by the pre-check; ``what`` is the stable reason suffix, the message says why."""

    def __init__(self, message: str, what: str = "malformed") -> None:
        super().__init__(message)
        self.what = what


@dataclass(frozen=True)
class Framed:
    """A token that passed the pre-check: its header and payload, not yet verified."""

    header: dict[str, Any]
    claims: dict[str, Any]


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    if not _SEGMENT.fullmatch(segment):
        raise MalformedJWS("not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "==")  # padding enough for any length: the excess is ignored
    except ValueError:  # binascii.Error: a length of 4n + 1, which no byte string encodes to
        raise MalformedJWS("not base64url") from None
    if b64url_encode(data) != segment:  # only the canonical encoding of these bytes (GHSA-hxm8-2xgr-2p9m)
        raise MalformedJWS("not canonical base64url")
    return data


def precheck(token: str, *, max_bytes: int) -> Framed:
    """Refuse what PyJWT does not; return the (unverified) header and claims."""
    if len(token) > max_bytes:
        raise MalformedJWS(f"is longer than {max_bytes} bytes", "too_large")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedJWS("is not a JWS compact serialization (three segments)")
    header_segment, payload_segment, signature_segment = parts
    header = _json_object(header_segment, "header")
    if "crit" in header or "b64" in header:
        raise MalformedJWS("names a critical or b64 header parameter we do not support", "crit_unsupported")
    claims = _json_object(payload_segment, "payload")
    b64url_decode(signature_segment)
    return Framed(header, claims)


def _json_object(segment: str, name: str) -> dict[str, Any]:
    try:
        value = _STRICT.decode(b64url_decode(segment).decode("utf-8"))
    except MalformedJWS as exc:
        raise MalformedJWS(f"{name} is {exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedJWS(f"{name} is not strict JSON ({_short(exc)})") from None
    if not isinstance(value, dict):
        raise MalformedJWS(f"{name} is not a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen:
            raise ValueError(f"duplicate member {name[:32]!r}")
        seen.add(name)
    return dict(pairs)


def _no_constant(literal: str) -> NoReturn:
    raise ValueError(f"{literal} is not a JSON number")


def _short(exc: Exception) -> str:
    text = str(exc)
    return text.partition(":")[0] if not isinstance(exc, UnicodeDecodeError) else "not UTF-8"


_STRICT = json.JSONDecoder(object_pairs_hook=_unique_members, parse_constant=_no_constant)
