"""CORS, decided by the code: the grant depends on each biller's domain or the payer JWT's origin.

Platform CORS (Azure's or APIM's) must stay off, or it would override this.

Only a *grantable* origin is ever granted: exactly what ``parse_origin`` accepts in the running
environment (one serialized origin, https, or http on a loopback host in development); never
``null`` and never a list, such as the comma-joined value the Functions host makes of a repeated
``Origin`` header.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import PayerAuthError
from shared.http import Response
from shared.origins import parse_origin

PREFLIGHT_MAX_AGE = 600


def grantable(origin_header: str | None, *, development: bool) -> str | None:
    """The request's Origin if it is one we could ever grant, else None: the function and the edge's rule.

    One serialized origin, https, or http on a loopback host in development; never ``null``, never a list
    (repeated ``Origin`` headers reach the function joined with ","), never a value that only normalises to
    an origin (the browser compares the grant with what it sent, byte for byte).
    """
    if not origin_header:
        return None
    try:
        origin = parse_origin(origin_header, allow_http_loopback=development)
    except PayerAuthError:
        return None
    return origin_header if origin.serialize() == origin_header else None


def grant(origin: str, *, expose: Sequence[str] = ()) -> list[tuple[str, str]]:
    headers = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
    if expose:  # Retry-After is not a CORS-safelisted response header: the page reads it only if exposed
        headers.append(("Access-Control-Expose-Headers", ", ".join(expose)))
    return headers


def vary() -> list[tuple[str, str]]:
    return [("Vary", "Origin")]


def preflight(origin: str | None, methods: str, headers: str) -> Response:
    """Answer a preflight for an already-checked grantable origin (or None: no grant).

    Granting it admits nothing: the real response grants or not."""
    response = Response(204, headers=vary())
    if origin:
        response.headers += [
            *grant(origin),
            ("Access-Control-Allow-Methods", methods),
            ("Access-Control-Allow-Headers", headers),
            ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)),
        ]
    return response
