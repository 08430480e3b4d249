"""Development keys: a self-signed RSA-2048 (or, for ES256 payer tokens, P-256) certificate under ``.local/``.

Each version is a file holding exactly what a Key Vault certificate's backing
secret holds (``<version>.pkcs12``: base64 PFX; ``<version>.pem``: key and
chain), so the local source and the Key Vault source share one parser.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

from shared.errors import KeyStoreUnavailable
from shared.jose.certificates import PEM, PKCS12, generate_self_signed, parse_secret, to_pem_secret, to_pkcs12_secret
from shared.jose.keys import KeyVersion

SUFFIXES = {".pkcs12": PKCS12, ".pem": PEM}


class LocalKeySource:
    def __init__(self, folder: Path, now: Callable[[], dt.datetime], *, algorithm: str = "RS256") -> None:
        self.folder = folder
        self.now = now
        self.algorithm = algorithm
        self.description = f"local development {algorithm} keys in {folder}"

    def load(self) -> Sequence[KeyVersion]:
        if not self._files():
            self.add_version()
        return [self._read(path) for path in self._files()]

    def add_version(self) -> str:
        """Generate a new certificate version (first run, or ``keys rotate``)."""
        now = self.now()
        version = now.strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
        material = generate_self_signed("Payer Auth local development", now, algorithm=self.algorithm)
        self.folder.mkdir(parents=True, exist_ok=True)
        _write_private(self.folder / f"{version}.pkcs12", to_pkcs12_secret(material))
        _write_private(self.folder / f"{version}.pem", to_pem_secret(material))
        return version

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        by_version: dict[str, Path] = {}
        for path in sorted(self.folder.iterdir()):
            if path.suffix in SUFFIXES:
                by_version.setdefault(path.stem, path)  # .pem sorts before .pkcs12; either will do
        return list(by_version.values())

    def _read(self, path: Path) -> KeyVersion:
        try:
            text = path.read_text()
        except OSError as exc:
            raise KeyStoreUnavailable(f"cannot read {path}: {exc.strerror}") from exc
        material = parse_secret(text, SUFFIXES[path.suffix], name=path.name)
        created = material.not_before or dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        return KeyVersion(version=path.stem, material=material, created=created)


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)
