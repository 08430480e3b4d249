"""Logs of a full run carry reasons, never a token or a signature."""

from __future__ import annotations

import logging

import pytest

from shared.billers.directory import Actor
from tests.conftest import Env


def test_logs_of_a_full_run_contain_no_token_and_no_signature(
    env: Env, captured_logs: pytest.LogCaptureFixture
) -> None:
    biller_token = env.mint()
    issued = env.exchange(biller_token).json()["access_token"]
    env.exchange(biller_token, delivery="cookie")
    env.exchange(biller_token, origin="https://evil.example")
    env.exchange(biller_token + "x")
    env.exchange(biller_token.replace(".", "!", 1))
    jti = env.service.biller_tokens.list("6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6")[0].jti
    env.service.biller_tokens.revoke("6f1d2a4e-3b5c-4d7e-8f90-a1b2c3d4e5f6", jti, Actor("t"))
    env.clock.advance(61)
    env.exchange(biller_token)

    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in captured_logs.records)
    assert "reason=origin_mismatch" in text and "reason=jti_inactive" in text  # the log is useful...
    for secret in (biller_token, issued):
        for part in secret.split("."):
            assert part not in text  # ...and holds no header, payload or signature
    assert all(r.levelno < logging.ERROR for r in captured_logs.records)
