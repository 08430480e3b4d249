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


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("PAYERAUTH_PAYER_TOKEN_LIFETIME", "soon", "seconds, 60 to 86400"),
        ("PAYERAUTH_LEEWAY", "600", "0 to 60"),
        ("PAYERAUTH_ENVIRONMENT", "staging", "'development' or 'production'"),
        ("PAYERAUTH_MASTER_DB", "Server=sql;Database=master", "'sqlite:<path>' or 'odbc:"),
        ("PAYERAUTH_SHARD_DBS", "{not json", "JSON such as"),
        ("PAYERAUTH_COOKIE_NAME", "session", "__Host-"),
        ("PAYERAUTH_PUBLIC_BASE_URL", "http://payer.example.com", "https URL"),
    ],
)
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


PROD = {
    "PAYERAUTH_ENVIRONMENT": "production",
    "PAYERAUTH_KEY_SOURCE": "keyvault",
    "PAYERAUTH_KEYVAULT_URL": "https://kv-payer.vault.azure.net",
    "PAYERAUTH_PUBLIC_BASE_URL": "https://payer.example.com",
    "PAYERAUTH_MASTER_DB": "odbc:Driver={ODBC Driver 18 for SQL Server};Server=sql.example;Database=master",
    "PAYERAUTH_SHARD_DBS": '{"shard01": "odbc:Driver={ODBC Driver 18 for SQL Server};Server=sql.example"}',
    "PAYERAUTH_KEY_OVERLAP_SECONDS": "7200",
}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    return caught.value.description


def test_a_complete_production_configuration_is_accepted() -> None:
    assert Settings.from_env(PROD).environment == "production"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PAYERAUTH_MASTER_DB", "Driver=SQL;Server=x;UID=app;PWD=hunter2-very-secret"),
        ("PAYERAUTH_MASTER_DB", "Server=x;Password={hunter2-very;secret}"),
        ("PAYERAUTH_SHARD_DBS", '{"s1": "odbc:Server=x;pwd=hunter2-very-secret", "s2": 7}'),
        ("PAYERAUTH_SHARD_DBS", '{"s1": "Server=x;AccountKey=hunter2-very-secret"}'),
        ("PAYERAUTH_SHARD_DBS", '{"s1": "Server=x;SharedAccessSignature=sv=1&sig=hunter2-very-secret"'),
    ],
)
def test_a_malformed_connection_setting_never_echoes_its_secret(
    name: str, value: str, captured_logs: pytest.LogCaptureFixture
) -> None:
    text = problems({name: value})
    assert name in text and "hunter2" not in text and "***" in text
    assert "hunter2" not in captured_logs.text


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"PAYERAUTH_MASTER_DB": "odbc:Driver={SQLite3};Database=/tmp/master.db"}, "PAYERAUTH_MASTER_DB"),
        ({"PAYERAUTH_SHARD_DBS": '{"s1": "odbc:DRIVER=sqlite3 ODBC driver;Database=x.db"}'}, "PAYERAUTH_SHARD_DBS"),
        ({"PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS": "jwks.internal,localhost"}, "'localhost'"),
        ({"PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS": "127.0.0.2"}, "'127.0.0.2'"),
        ({"PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS": "169.254.169.254"}, "'169.254.169.254'"),
        ({"PAYERAUTH_TENANT_JWKS_ALLOWED_HOSTS": "fe80::1"}, "'fe80::1'"),
        (
            {
                "PAYERAUTH_KEYVAULT_URL": "https://vault.attacker.example",
                "PAYERAUTH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
            },
            "PAYERAUTH_KEYVAULT_VERIFY_CHALLENGE_RESOURCE",
        ),
        ({"PAYERAUTH_PUBLIC_BASE_URL": "https://localhost:7071"}, "PAYERAUTH_PUBLIC_BASE_URL"),
        ({"PAYERAUTH_PAYER_ISSUER": "https://127.0.0.1"}, "PAYERAUTH_PAYER_ISSUER"),
    ],
)
def test_production_refuses_what_only_development_may_use(change: dict[str, str], named: str) -> None:
    assert named in problems({**PROD, **change})


def test_a_private_vault_host_is_fine_while_the_challenge_resource_is_verified() -> None:
    settings = Settings.from_env({**PROD, "PAYERAUTH_KEYVAULT_URL": "https://kv.privatelink.example"})
    assert settings.keyvault_verify_challenge_resource


def test_on_azure_an_unset_environment_refuses_to_start_naming_the_setting() -> None:
    text = problems({"WEBSITE_SITE_NAME": "func-payer-abc123"})
    assert "PAYERAUTH_ENVIRONMENT" in text and "'production'" in text
    assert Settings.from_env({"WEBSITE_SITE_NAME": "func-x", "PAYERAUTH_ENVIRONMENT": "development"}).development


def test_a_setting_no_one_reads_is_logged_naming_the_closest_real_one(captured_logs: pytest.LogCaptureFixture) -> None:
    Settings.from_env(
        {
            "PAYERAUTH_LEEWAYS": "30",
            "PAYERAUTH_KEYVAULTURL": "https://x.vault.azure.net",
            "PAYERAUTH_DEPLOY_KEYVAULT_NAME": "kv-x",
            "OTHER_THING": "1",
        }
    )
    warnings = [r.getMessage() for r in captured_logs.records if r.levelname == "WARNING"]
    assert warnings == [
        "PAYERAUTH_KEYVAULTURL is set but is not a setting of this app; did you mean PAYERAUTH_KEYVAULT_URL?",
        "PAYERAUTH_LEEWAYS is set but is not a setting of this app; did you mean PAYERAUTH_LEEWAY?",
    ]
