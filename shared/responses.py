"""The one place where core errors and results become HTTP.

Token routes answer errors the OAuth way (``{"error", "error_description"}``,
RFC 6749 §5.2); every other route answers ``application/problem+json``
(RFC 9457).  Neither ever carries a token or a cookie.
"""

from __future__ import annotations

import html
from http import HTTPStatus

from . import cors
from .errors import (
    ConfigurationError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayerAuthError,
    PayloadTooLarge,
    TemporarilyUnavailable,
    Unauthorized,
    UnsupportedGrantType,
)
from .web import Response

STATUS: dict[type[PayerAuthError], int] = {
    InvalidRequest: 400,
    UnsupportedGrantType: 400,
    PayloadTooLarge: 413,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    TemporarilyUnavailable: 503,
    ConfigurationError: 503,  # a bad key or setting found at run time: nothing the caller can fix
}
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
PROBLEM_BASE = "https://payer-auth.invoicecloud.dev/problems/"


def status_of(exc: PayerAuthError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _common(exc: PayerAuthError, status: int) -> list[tuple[str, str]]:
    headers = [*NO_STORE, *cors.vary()]
    if exc.allow_origin:
        headers += cors.grant(exc.allow_origin)
    if isinstance(exc, TemporarilyUnavailable):
        headers.append(("Retry-After", str(exc.retry_after)))
    elif status == 503:
        headers.append(("Retry-After", "30"))
    return headers


def oauth_error(exc: PayerAuthError) -> Response:
    status = status_of(exc)
    error = "temporarily_unavailable" if status == 503 else exc.error
    if status == 413:
        error = "invalid_request"
    return Response.json(status, {"error": error, "error_description": exc.description},
                         headers=_common(exc, status))


def problem(exc: PayerAuthError, *, realm: str = "payer-auth") -> Response:
    status = status_of(exc)
    headers = _common(exc, status)
    if status == 401:
        headers.append(("WWW-Authenticate", f'Bearer realm="{realm}", error="invalid_token"'))
    body = {"type": PROBLEM_BASE + exc.reason.replace("_", "-"), "title": HTTPStatus(status).phrase,
            "status": status, "detail": exc.description}
    return Response.json(status, body, media_type="application/problem+json", headers=headers)


def html_error(exc: PayerAuthError, headers: list[tuple[str, str]]) -> Response:
    """The seamless-login failure page: a stable error code for support, never the token."""
    status = status_of(exc)
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in failed</title>"
            f"<body style='font:15px system-ui,sans-serif;margin:2rem'><h1>Sign-in failed</h1>"
            f"<p>{html.escape(exc.description)}</p><p>Error code: <code>{html.escape(exc.reason)}</code></p></body>"
            f"</html>")
    extra = [("Retry-After", str(exc.retry_after))] if isinstance(exc, TemporarilyUnavailable) else []
    return Response(status, page.encode(), [("Content-Type", "text/html; charset=utf-8"), *headers, *extra])


def internal_error() -> Response:
    """A bug: say so without detail (the log has the traceback, never a token)."""
    body = {"type": PROBLEM_BASE + "internal-error", "title": "Internal Server Error", "status": 500,
            "detail": "an unexpected error; it has been logged"}
    return Response.json(500, body, media_type="application/problem+json", headers=list(NO_STORE))
