"""Telemetry: OpenTelemetry metrics and logs, exported to Application Insights when configured.

``configure`` turns on the Azure Monitor OpenTelemetry distro only when
``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; otherwise nothing is
exported and the counters below are no-ops (the OpenTelemetry API's default).
Nothing here ever records a token, a secret, or a full e-mail address or
phone number: ``mask_email`` and ``mask_phone`` are what may be logged.
"""

from __future__ import annotations

import logging
import os
import threading

from opentelemetry import metrics

log = logging.getLogger("payerauth.telemetry")

_meter = metrics.get_meter("payerauth")
exchanges = _meter.create_counter("payerauth.exchanges", description="payer JWTs issued, by route and delivery")
rejections = _meter.create_counter("payerauth.rejections", description="refused requests, by route and reason")
key_refreshes = _meter.create_counter("payerauth.key_refreshes", description="key-store refreshes, by outcome")
dependency_changes = _meter.create_counter(
    "payerauth.dependency_changes", description="a dependency's state changed, by dependency and state"
)


def configure(environ: dict[str, str] | None = None) -> bool:
    """Export to Application Insights if its connection string is set. True when it was."""
    env = os.environ if environ is None else environ
    if not env.get("APPLICATIONINSIGHTS_CONNECTION_STRING"):
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor  # heavy: only when used

    configure_azure_monitor(logger_name="payerauth", enable_live_metrics=False)
    log.info("telemetry: exporting to Application Insights")
    return True


class DependencyStates:
    """The last known state of each dependency (key store, databases).

    A change is written once, as a structured log event (``event=dependency_state``; its fields become
    custom dimensions in Application Insights) and a metric, instead of being served on ``api/health``.
    Reports that change nothing cost a dictionary lookup."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def report(self, dependency: str, state: str, **detail: str) -> None:
        current = {"state": state, **detail}
        if self._states.get(dependency) == current:
            return
        with self._lock:
            previous = self._states.get(dependency)
            if previous == current:
                return
            self._states[dependency] = current
        fields = {
            "event": "dependency_state",
            "dependency": dependency,
            **current,
            "previous_state": previous["state"] if previous else "-",
        }
        level = logging.INFO if state == "ok" else logging.WARNING
        log.log(
            level,
            "dependency %s is %s " + " ".join(f"{k}=%s" for k in detail),
            dependency,
            state,
            *detail.values(),
            extra=fields,
        )
        dependency_changes.add(1, {"dependency": dependency, "state": state})

    def snapshot(self) -> dict[str, dict[str, str]]:
        return dict(self._states)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}***{phone[-2:]}" if len(phone) > 6 else "***"
