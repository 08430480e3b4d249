"""Named secrets for HS256 tenants: the database holds a secret's name, never its value.

Locally a secret is a file ``.local/secrets/<name>`` (written by ``tools.cli tenant add``);
in Azure it is a Key Vault secret read with the app's managed identity.
Values are cached for ``ttl``; a failed read keeps the last good value.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from shared.errors import KeyStoreUnavailable, PayerAuthError, TenantKeyInvalid

MIN_HS256_SECRET_BYTES = 32


class SecretStore(Protocol):
    def get(self, name: str) -> str: ...


def hs256_secret(value: str, *, name: str) -> bytes:
    """Decode a tenant's base64 shared secret; refuse one shorter than 32 bytes (RFC 7518 §3.2)."""
    try:
        secret = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise TenantKeyInvalid(f"the shared secret {name!r} is not base64") from None
    if len(secret) < MIN_HS256_SECRET_BYTES:
        raise TenantKeyInvalid(
            f"the shared secret {name!r} decodes to {len(secret)} bytes; HS256 needs at least {MIN_HS256_SECRET_BYTES}"
        )
    return secret


class LocalSecretStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str) -> str:
        try:
            return (self.folder / name).read_text()
        except OSError:
            raise KeyStoreUnavailable(f"the local secret {name!r} is missing in {self.folder}") from None

    def put(self, name: str, value: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / name
        path.touch(mode=0o600)
        path.write_text(value)


class KeyVaultSecretStore:
    def __init__(self, client: Callable[[], Any], *, ttl: float, monotonic: Callable[[], float]) -> None:
        self.client = client  # builds the SecretClient lazily (shared with the key source's settings)
        self.ttl = ttl
        self.monotonic = monotonic
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> str:
        cached = self._values.get(name)
        if cached and self.monotonic() - cached[0] < self.ttl:
            return cached[1]
        with self._lock:
            try:
                value = str(self.client().get_secret(name).value or "")
            except PayerAuthError:
                raise
            except Exception as exc:  # SDK errors: keep the last good value if there is one
                if cached:
                    return cached[1]
                from shared.keystores.keyvault import classify

                raise classify(exc, f"the tenant secret {name!r} in Key Vault") from exc
            self._values[name] = (self.monotonic(), value)
            return value
