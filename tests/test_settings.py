"""Settings: defaults that run locally; every bad value named with what to set."""

from __future__ import annotations

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings


def test_the_empty_environment_gives_the_embedded_development_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "development"
    assert settings.key_source == "local"
    assert settings.master_db == "sqlite:.local/master.db"
    assert settings.payer_token_lifetime == 900 and settings.revocation_bound == 60
    assert settings.cookie_name.startswith("__Host-")


@pytest.mark.parametrize(("name", "value", "hint"), [
    ("PAYERAUTH_PAYER_TOKEN_LIFETIME", "soon", "seconds, 60 to 86400"),
    ("PAYERAUTH_LEEWAY", "600", "0 to 60"),
    ("PAYERAUTH_ENVIRONMENT", "staging", "'development' or 'production'"),
    ("PAYERAUTH_MASTER_DB", "Server=sql;Database=master", "'sqlite:<path>' or 'odbc:"),
    ("PAYERAUTH_SHARD_DBS", "{not json", "JSON such as"),
    ("PAYERAUTH_COOKIE_NAME", "session", "__Host-"),
    ("PAYERAUTH_PUBLIC_BASE_URL", "http://payer.example.com", "https URL"),
])
def test_a_malformed_setting_names_itself_and_what_to_put_there(name: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({name: value})
    assert name in caught.value.description and hint in caught.value.description


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"PAYERAUTH_LEEWAY": "x", "PAYERAUTH_REVOCATION_BOUND": "y"})
    assert "PAYERAUTH_LEEWAY" in caught.value.description
    assert "PAYERAUTH_REVOCATION_BOUND" in caught.value.description


def test_production_refuses_development_keys_sqlite_and_plain_http() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"PAYERAUTH_ENVIRONMENT": "production"})
    text = caught.value.description
    assert "PAYERAUTH_KEY_SOURCE" in text and "PAYERAUTH_MASTER_DB" in text and "PAYERAUTH_PUBLIC_BASE_URL" in text


def test_a_number_that_does_not_parse_is_told_in_our_words() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env({"PAYERAUTH_REVOCATION_BOUND": "abc"})
    assert "'abc' is not valid (not a whole number)" in caught.value.description
    assert "invalid literal" not in caught.value.description
