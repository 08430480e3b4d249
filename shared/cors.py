"""CORS, decided by the code: the grant depends on each biller's domain or the payer JWT's origin.

Platform CORS (Azure's or APIM's) must stay off, or it would override this.
"""

from __future__ import annotations

from .web import Response

PREFLIGHT_MAX_AGE = 600


def grant(origin: str) -> list[tuple[str, str]]:
    return [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]


def vary() -> list[tuple[str, str]]:
    return [("Vary", "Origin")]


def preflight(origin: str | None, methods: str, headers: str) -> Response:
    """Answer a preflight.  Granting it admits nothing: the real response grants or not."""
    response = Response(204, headers=vary())
    if origin and origin != "null":
        response.headers += [*grant(origin), ("Access-Control-Allow-Methods", methods),
                             ("Access-Control-Allow-Headers", headers),
                             ("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE))]
    return response
