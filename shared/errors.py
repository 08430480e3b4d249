"""The core's exception tree: one base, a branch per party that can fix it.

Every error carries the ``error`` its HTTP answer names (an OAuth error code
or a problem type), a finer stable snake_case ``reason`` for logs and metrics
(``biller_token_expired``), and a human ``description`` safe to show to the caller: it never contains a token,
a secret or a full e-mail address.  ``shared.web.responses`` is the one place that
turns these into HTTP.
"""

from __future__ import annotations

from shared.reasons import Reason


class PayerAuthError(Exception):
    """Base of every error the core raises on purpose."""

    error = "error"
    default_reason: str | None = None
    # What a caller may read when this error is a failed dependency (503): the kind that failed, never the
    # vault URL, secret name, setting or identity behind it; ``description`` keeps those for the log.
    public_description: str | None = None

    def __init__(self, description: str, *, reason: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.reason = reason or self.default_reason or self.error


class ConfigurationError(PayerAuthError):
    """A setting is missing or malformed: the operator fixes it."""

    error = "configuration_error"
    public_description = "the service is not configured correctly; the operator has been told"


class TenantKeyInvalid(ConfigurationError):
    """A registered tenant's key material is unusable (not a PEM key, an HS256 secret too short)."""

    public_description = "the tenant's registered key cannot be used; the operator has been told"


# --- the caller sent something we refuse (4xx) -------------------------------


class RequestRejected(PayerAuthError):
    """The caller's request is refused; subclasses fix the HTTP status."""


class InvalidRequest(RequestRejected):
    """RFC 6749 / RFC 8693 ``invalid_request``: the token or form is bad."""

    error = "invalid_request"


class UnsupportedGrantType(RequestRejected):
    error = "unsupported_grant_type"


class PayloadTooLarge(RequestRejected):
    error = "payload_too_large"


class UnsupportedMediaType(RequestRejected):
    """A body in a media type or charset we do not read (415)."""

    error = "invalid_request"


class Unauthorized(RequestRejected):
    """No valid credential for a protected route (401 + WWW-Authenticate)."""

    error = "invalid_token"


class Forbidden(RequestRejected):
    """A valid credential that may not do this (403)."""

    error = "insufficient_scope"


class NotFound(RequestRejected):
    error = "not_found"


# --- a dependency failed: retry later (503) ----------------------------------


class TemporarilyUnavailable(PayerAuthError):
    """A database or key store cannot be reached right now."""

    error = "temporarily_unavailable"
    public_description = "a service this one depends on is unavailable"

    def __init__(self, description: str, *, retry_after: int = 5, reason: str | None = None) -> None:
        super().__init__(description, reason=reason)
        self.retry_after = retry_after


class KeyStoreUnavailable(TemporarilyUnavailable):
    default_reason: str | None = Reason.KEY_STORE_UNAVAILABLE
    public_description = "the key store is unavailable"


class DatabaseUnavailable(TemporarilyUnavailable):
    default_reason: str | None = Reason.DATABASE_UNAVAILABLE
    public_description = "the database is unavailable"
