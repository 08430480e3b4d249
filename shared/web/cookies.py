"""The session cookie policy.

The function emits ``__Host-<name>=<jwt>; Path=/; Max-Age=..; Secure; HttpOnly;
SameSite=None``.  ``Partitioned`` (CHIPS) is required for a third-party
cookie in current Chromium, but the Functions Python library silently drops a
``Set-Cookie`` that carries it (``http.cookies`` cannot parse the bare flag),
so the edge in front of the function adds it: API Management in Azure, the
local host locally, both by ``shared.web.edge``'s rules.

The Functions host rebuilds every cookie from the worker's ``RpcHttpCookie``
and always writes its Domain, empty when none was set: ``name=value;
max-age=N; domain=; path=/; secure; samesite=none; httponly``
(azure-functions-python-worker ``bindings/datumdef.py``
``parse_to_rpc_http_cookie_list``; azure-functions-host
``GrpcMessageExtensionUtilities.RpcHttpCookieConverter``; worker issue #1902).
A ``__Host-`` cookie must have no Domain attribute, so the edge removes it.
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


def remove_empty_domain(set_cookie: str, name: str) -> str:
    """The edge rule: our session cookie loses an empty ``domain=`` (a ``__Host-`` cookie has no Domain)."""
    if not set_cookie.startswith(name + "="):
        return set_cookie
    first, *attributes = set_cookie.split(";")
    kept = [a for a in attributes if a.strip().lower().replace(" ", "") != "domain="]
    return ";".join([first, *kept])
