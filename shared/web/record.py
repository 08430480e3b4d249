"""What one request's log line says beyond the request itself, filled in as the request is handled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RequestRecord:
    """Passed to the handler, which writes what it learns; the endpoint renders errors and logs from it."""

    route: str
    biller_guid: str | None = None  # once a verified token named it
    cors_origin: str | None = None  # once the origin is known to be the token's own: refusals are granted to it
    reason: str | None = None  # why a handler that renders its own errors refused
