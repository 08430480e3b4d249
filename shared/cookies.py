"""The session cookie policy.

The function emits ``__Host-<name>=<jwt>; Path=/; Max-Age=..; Secure; HttpOnly;
SameSite=None``.  ``Partitioned`` (CHIPS) is required for a third-party
cookie in current Chromium, but the Functions Python library silently drops a
``Set-Cookie`` that carries it (``http.cookies`` cannot parse the bare flag),
so the edge in front of the function adds it: API Management in Azure, the
local host locally, both by ``add_partitioned``'s rule.
"""

from __future__ import annotations


def session_cookie(name: str, value: str, max_age: int) -> str:
    return f"{name}={value}; Path=/; Max-Age={max_age}; Secure; HttpOnly; SameSite=None"


def cleared_cookie(name: str) -> str:
    return f"{name}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=None"


def add_partitioned(set_cookie: str, name: str) -> str:
    """The edge rule: our session cookie gets ``Partitioned`` once; other cookies pass untouched."""
    if not set_cookie.startswith(name + "="):
        return set_cookie
    attributes = [a.strip().lower() for a in set_cookie.split(";")[1:]]
    return set_cookie if "partitioned" in attributes else set_cookie + "; Partitioned"
