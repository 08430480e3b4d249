"""The one place where core errors and results become HTTP.

Token routes answer errors the OAuth way (``{"error", "error_description"}``,
RFC 6749 §5.2); every other route answers ``application/problem+json``
(RFC 9457).  Neither ever carries a token or a cookie.
"""

from __future__ import annotations

import html
import logging
from http import HTTPStatus

from shared.errors import (
    ConfigurationError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PayerAuthError,
    PayloadTooLarge,
    TemporarilyUnavailable,
    Unauthorized,
    UnsupportedGrantType,
    UnsupportedMediaType,
)
from shared.http import Response
from shared.reasons import Reason
from shared.web import cors

log = logging.getLogger("payerauth.responses")

STATUS: dict[type[PayerAuthError], int] = {
    InvalidRequest: 400,
    UnsupportedGrantType: 400,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
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


def reason_uri(reason: str) -> str:
    """The stable reason as a URI: the problem ``type``, and the OAuth ``error_uri``."""
    return PROBLEM_BASE + reason.replace("_", "-")


def caller_description(exc: PayerAuthError) -> str:
    """What the caller reads.  A failed dependency (503) is named by its kind only; the specifics (vault,
    secret, setting, identity) go to the log, where the operator looks."""
    if status_of(exc) != 503 or exc.public_description is None:
        return exc.description
    log.warning(
        "dependency failure reason=%s: %s",
        exc.reason,
        exc.description,
        extra={"reason": exc.reason, "error_type": type(exc).__name__},
    )
    return exc.public_description


def _retry_after(exc: PayerAuthError, status: int) -> str | None:
    if isinstance(exc, TemporarilyUnavailable):
        return str(exc.retry_after)
    return "30" if status == 503 else None


def _common(exc: PayerAuthError, status: int, cors_origin: str | None) -> list[tuple[str, str]]:
    headers = [*NO_STORE, *cors.vary()]
    retry_after = _retry_after(exc, status)
    if cors_origin:
        headers += cors.grant(cors_origin, expose=("Retry-After",) if retry_after else ())
    if retry_after:
        headers.append(("Retry-After", retry_after))
    return headers


def oauth_error(exc: PayerAuthError, *, cors_origin: str | None = None) -> Response:
    """RFC 6749 §5.2: ``error``, ``error_description`` and ``error_uri`` (the stable reason as a URI).

    ``cors_origin``: the page origin allowed to read the refusal (None: no grant)."""
    status = status_of(exc)
    error = "temporarily_unavailable" if status == 503 else exc.error
    if status in (413, 415):
        error = "invalid_request"
    body = {"error": error, "error_description": caller_description(exc), "error_uri": reason_uri(exc.reason)}
    return Response.json(status, body, headers=_common(exc, status, cors_origin))


def problem(exc: PayerAuthError, *, cors_origin: str | None = None, realm: str = "payer-auth") -> Response:
    status = status_of(exc)
    headers = _common(exc, status, cors_origin)
    if status == 401:
        headers.append(("WWW-Authenticate", f'Bearer realm="{realm}", error="invalid_token"'))
    body = {
        "type": reason_uri(exc.reason),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": caller_description(exc),
    }
    return Response.json(status, body, media_type="application/problem+json", headers=headers)


def html_error(exc: PayerAuthError, headers: list[tuple[str, str]]) -> Response:
    """The seamless-login failure page: a stable error code for support, never the token."""
    status = status_of(exc)
    page = (
        f"<!doctype html><html lang=en><meta charset=utf-8><title>Sign-in failed</title>"
        f"<body style='font:15px system-ui,sans-serif;margin:2rem'><h1>Sign-in failed</h1>"
        f"<p>{html.escape(caller_description(exc))}</p>"
        f"<p>Error code: <code>{html.escape(exc.reason)}</code></p></body></html>"
    )
    retry_after = _retry_after(exc, status)
    extra = [("Retry-After", retry_after)] if retry_after else []
    return Response(status, page.encode(), [("Content-Type", "text/html; charset=utf-8"), *headers, *extra])


def internal_error(allow_origin: str | None = None) -> Response:
    """A bug: say so without detail (the log has the traceback, never a token)."""
    body = {
        "type": reason_uri(Reason.INTERNAL_ERROR),
        "title": "Internal Server Error",
        "status": 500,
        "detail": "an unexpected error; it has been logged",
    }
    headers = [*NO_STORE, *cors.vary(), *(cors.grant(allow_origin) if allow_origin else [])]
    return Response.json(500, body, media_type="application/problem+json", headers=headers)
