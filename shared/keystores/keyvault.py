"""Key Vault key source: the versions of a certificate's backing secret, read with managed identity.

In Azure the function app's managed identity (system-assigned, or the
user-assigned one named by ``PAYERAUTH_MANAGED_IDENTITY_CLIENT_ID``) reads the
secret; on a developer's machine their own login (Azure CLI, VS Code, ...)
through ``DefaultAzureCredential``.  The Azure SDKs are imported lazily: they
are not needed to index the functions and cost start-up time.

A version's value never changes, so each is fetched once and kept; a refresh
lists the versions (one paged call) and fetches only new ones.  Every SDK
failure becomes ``KeyStoreUnavailable`` with a message an operator can act on
and no secret in it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

from shared.errors import KeyStoreUnavailable, PayerAuthError
from shared.jose.certificates import parse_secret
from shared.jose.keys import KeyVersion
from shared.reasons import Reason

log = logging.getLogger("payerauth.keyvault")

MAX_VERSIONS = 5  # newest enabled versions fetched; older ones cannot have signed a live token


class KeyVaultSource:
    def __init__(
        self,
        vault_url: str,
        secret_name: str,
        *,
        now: Callable[[], dt.datetime],
        client_id: str | None = None,
        verify_challenge_resource: bool = True,
        retries: int = 3,
    ) -> None:
        self.vault_url = vault_url
        self.secret_name = secret_name
        self.now = now
        self.client_id = client_id
        self.verify_challenge_resource = verify_challenge_resource
        self.retries = retries
        self.description = f"Key Vault secret {secret_name!r} in {vault_url}"
        self._client: Any = None
        self._parsed: dict[str, KeyVersion] = {}
        self._lock = threading.Lock()

    def load(self) -> Sequence[KeyVersion]:
        with self._lock:
            try:
                return self._load()
            except PayerAuthError:
                raise
            except Exception as exc:  # SDK and transport errors: classified, never passed through
                raise self._classify(exc) from exc

    def _load(self) -> list[KeyVersion]:
        client = self._secret_client()
        listed = [p for p in client.list_properties_of_secret_versions(self.secret_name) if p.enabled]
        listed.sort(key=lambda p: p.created_on or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
        versions = []
        for properties in listed[:MAX_VERSIONS]:
            if properties.version not in self._parsed:
                self._parsed[properties.version] = self._fetch(client, properties)
            versions.append(self._parsed[properties.version])
        listed_ids = {p.version for p in listed}
        self._parsed = {k: v for k, v in self._parsed.items() if k in listed_ids}
        return versions

    def _fetch(self, client: Any, properties: Any) -> KeyVersion:
        secret = client.get_secret(self.secret_name, properties.version)
        material = parse_secret(
            secret.value or "", secret.properties.content_type, name=f"{self.secret_name}/{properties.version}"
        )
        created = max(t for t in (properties.created_on, properties.not_before, material.not_before) if t)
        return KeyVersion(
            version=properties.version, material=material, created=created, expires=properties.expires_on, enabled=True
        )

    def _secret_client(self) -> Any:
        if self._client is None:
            self._client = secret_client(
                self.vault_url,
                client_id=self.client_id,
                retries=self.retries,
                verify_challenge_resource=self.verify_challenge_resource,
            )
        return self._client

    def _classify(self, exc: Exception) -> KeyStoreUnavailable:
        return classify(exc, self.description)


def secret_client(vault_url: str, *, client_id: str | None, retries: int, verify_challenge_resource: bool) -> Any:
    """A real ``SecretClient``: the app's managed identity in Azure, the developer's login elsewhere."""
    from azure.keyvault.secrets import SecretClient

    return SecretClient(
        vault_url,
        _credential(client_id, retries),
        retry_total=retries,
        connection_timeout=5,
        read_timeout=10,
        verify_challenge_resource=verify_challenge_resource,
    )


def _credential(client_id: str | None, retries: int) -> Any:
    if os.environ.get("IDENTITY_ENDPOINT") or os.environ.get("MSI_ENDPOINT"):
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=client_id, retry_total=retries)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=client_id, exclude_interactive_browser_credential=True)


def classify(exc: Exception, description: str) -> KeyStoreUnavailable:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    kind = type(exc).__name__
    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) in (None, 400, 401):
        return KeyStoreUnavailable(
            f"the managed identity could not get a token for Key Vault ({kind}): "
            "check that the function app has an identity and, for a user-assigned "
            "one, PAYERAUTH_MANAGED_IDENTITY_CLIENT_ID",
            reason=Reason.IDENTITY_REFUSED,
        )
    if isinstance(exc, ResourceNotFoundError):
        return KeyStoreUnavailable(
            f"{description} does not exist: check PAYERAUTH_KEYVAULT_URL and the secret name settings",
            reason=Reason.SECRET_NOT_FOUND,
        )
    if isinstance(exc, HttpResponseError) and exc.status_code == 403:
        return KeyStoreUnavailable(
            f"{description} is forbidden to this identity: grant it the 'Key Vault Secrets User' role on the vault",
            reason=Reason.KEYVAULT_FORBIDDEN,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError | HttpResponseError):
        return KeyStoreUnavailable(f"{description} cannot be reached ({kind})", reason=Reason.KEYVAULT_DOWN)
    log.error("unexpected error reading %s: %s", description, kind)
    return KeyStoreUnavailable(f"{description} could not be read ({kind})", reason=Reason.KEYVAULT_ERROR)
