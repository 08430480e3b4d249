"""Telemetry: counters, the per-request log line, and the Azure Monitor switch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from shared import telemetry
from shared.errors import KeyStoreUnavailable
from tests.conftest import Env

READER = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[READER]))
ROOT = Path(__file__).resolve().parent.parent


def counts(name: str) -> dict[tuple[tuple[str, Any], ...], int]:
    data = READER.get_metrics_data()
    found: dict[tuple[tuple[str, Any], ...], int] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint) and point.attributes is not None
                        found[tuple(sorted(point.attributes.items()))] = int(point.value)
    return found


COUNTERS = ("payerauth.exchanges", "payerauth.rejections", "payerauth.key_refreshes")


def deltas(before: dict[str, dict[Any, int]]) -> dict[str, dict[Any, int]]:
    """What each counter gained since ``before``, by attribute set; unchanged series left out."""
    changed: dict[str, dict[Any, int]] = {}
    for name in COUNTERS:
        now = counts(name)
        gained = {attributes: value - before[name].get(attributes, 0) for attributes, value in now.items()}
        changed[name] = {attributes: value for attributes, value in gained.items() if value}
    return changed


def test_exchanges_rejections_and_key_refreshes_are_counted_exactly(env: Env) -> None:
    env.exchange()  # both key rings loaded (each load is a refresh of its own)
    before = {name: counts(name) for name in COUNTERS}
    env.exchange()
    env.exchange(delivery="cookie")
    env.exchange(origin="https://evil.example")
    env.service.ic_keys.refresh()
    assert deltas(before) == {
        "payerauth.exchanges": {(("delivery", "body"),): 1, (("delivery", "cookie"),): 1},
        "payerauth.rejections": {(("reason", "origin_mismatch"), ("route", "payer_token")): 1},
        "payerauth.key_refreshes": {(("outcome", "ok"),): 1},
    }


def test_a_failed_key_refresh_is_counted_with_its_reason(env: Env) -> None:
    class Unreachable:
        description = "a key store that cannot be reached"

        def load(self) -> Any:
            raise KeyStoreUnavailable("the key store cannot be reached")

    before = {name: counts(name) for name in COUNTERS}
    env.service.ic_keys.source = Unreachable()
    assert env.service.ic_keys.refresh() is False
    assert deltas(before)["payerauth.key_refreshes"] == {
        (("outcome", "failed"), ("reason", "key_store_unavailable")): 1
    }


def test_one_structured_line_per_request_names_route_status_biller_reason_and_latency(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="payerauth.request")
    env.exchange(origin="http://localhost:9999")  # a verified token from a foreign origin
    (record,) = [r for r in caplog.records if r.name == "payerauth.request"]
    assert record.route == "payer_token" and record.status == 400  # type: ignore[attr-defined]
    assert record.biller_guid == "6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6"  # type: ignore[attr-defined]
    assert record.reason == "origin_mismatch" and record.ms >= 0  # type: ignore[attr-defined]
    assert "biller_guid=6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6" in record.getMessage()


def test_emails_and_phones_are_masked() -> None:
    assert telemetry.mask_email("customer@visa.com") == "c***@visa.com"
    assert telemetry.mask_phone("+49123456789") == "+49***89"


def test_nothing_is_exported_without_a_connection_string() -> None:
    assert telemetry.configure({}) is False
    assert "azure.monitor.opentelemetry" not in sys.modules


def test_a_connection_string_turns_on_the_azure_monitor_distro() -> None:
    code = (
        "from shared import telemetry; from opentelemetry import metrics; "
        "print(telemetry.configure(), type(metrics.get_meter_provider()).__module__)"
    )
    env = {
        **os.environ,
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["True", "opentelemetry.sdk.metrics._internal"]
