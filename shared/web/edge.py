"""The edge rules: what sits in front of the Functions host does to our traffic.

In Azure the edge is API Management (its policies in ``infra/``); locally it is
``tools/localhost.py``.  Both apply these rules, so the browser tests exercise
what Azure does:

* Preflights on our CORS routes are answered here.  The Flex Consumption host
  answers every preflight itself (204, no CORS headers) when the platform CORS
  list is empty, so they never reach the function.  The answer grants only a
  grantable origin; granting a preflight admits nothing, since the function
  still decides CORS on every real response.
* Our session cookie leaves without the empty ``domain=`` the host writes (a
  ``__Host-`` cookie must carry no Domain) and with ``Partitioned`` (CHIPS),
  which the Functions Python library cannot carry (``shared.web.cookies``).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.http import Response
from shared.web.cookies import add_partitioned, remove_empty_domain
from shared.web.cors import PREFLIGHT_MAX_AGE, grantable

Headers = Iterable[tuple[str, str]]

# What a page may ask for on our routes: the body flow's Bearer GET and the JSON POSTs.
PREFLIGHT_METHODS = frozenset({"GET", "POST"})
PREFLIGHT_HEADERS = frozenset({"authorization", "content-type"})


def is_preflight(method: str, headers: Headers) -> bool:
    """A CORS preflight as ASP.NET Core's ``CorsMiddleware`` sees one: ``OPTIONS`` (any case) carrying the
    ``Origin`` and ``Access-Control-Request-Method`` headers, whatever their values."""
    names = {name.lower() for name, _ in headers}
    return method.upper() == "OPTIONS" and "origin" in names and "access-control-request-method" in names


def preflight(headers: Headers, *, development: bool) -> Response:
    """204 granting the origin, the requested method and headers from the allowed set; nothing else."""
    sent = _joined(headers)
    response = Response(204, headers=[("Vary", "Origin")])
    origin = grantable(sent.get("origin"), development=development)
    if origin is None:
        return response
    response.headers += [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true")]
    method = sent.get("access-control-request-method", "")
    if method in PREFLIGHT_METHODS:
        response.headers.append(("Access-Control-Allow-Methods", method))
    requested = [h.strip() for h in sent.get("access-control-request-headers", "").split(",") if h.strip()]
    allowed = [h for h in requested if h.lower() in PREFLIGHT_HEADERS]
    if allowed:
        response.headers.append(("Access-Control-Allow-Headers", ", ".join(allowed)))
    response.headers.append(("Access-Control-Max-Age", str(PREFLIGHT_MAX_AGE)))
    return response


def session_cookie_out(set_cookie: str, cookie_name: str) -> str:
    """Our session cookie on its way out: empty ``domain=`` removed, then ``Partitioned`` added."""
    return add_partitioned(remove_empty_domain(set_cookie, cookie_name), cookie_name)


def response_headers(headers: Headers, cookie_name: str) -> list[tuple[str, str]]:
    return [(k, session_cookie_out(v, cookie_name) if k.lower() == "set-cookie" else v) for k, v in headers]


def _joined(headers: Headers) -> dict[str, str]:
    joined: dict[str, list[str]] = {}
    for name, value in headers:
        joined.setdefault(name.lower(), []).append(value)
    return {name: ",".join(values) for name, values in joined.items()}
