"""Key sources and the key ring: which key signs, which keys verify, what is published.

A ``KeySource`` lists the versions of one signing certificate (local files, or
a Key Vault secret's versions).  The ``KeyRing`` turns such a listing into an
immutable ``KeySet`` snapshot:

* every enabled, unexpired version is trusted for verification, looked up by
  ``kid`` (RFC 7638 thumbprint); a token without ``kid`` is tried against the
  few newest only;
* the newest version signs once it has been published for ``overlap`` (longer
  than any consumer's JWKS cache), so no consumer meets an unknown ``kid``;
* a version that stops being trusted stays published until the last token it
  may have signed has expired.

Reads of the snapshot never do I/O; ``refresh`` is the only method that calls
the source, and a failed refresh keeps the last good snapshot.  Tokens are
signed by PyJWT (``jwt.encode``) with the signer's key and our ``kid``/``typ``.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import iocounts, telemetry
from shared.errors import KeyStoreUnavailable, PayerAuthError
from shared.jose.certificates import KeyMaterial

log = logging.getLogger("payerauth.keys")

LEGACY_TRIES = 3  # how many keys a token without `kid` may be tried against

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
VerificationKey = PublicKey | bytes  # bytes: an HS256 shared secret (tenants only)


@dataclass(frozen=True)
class KeyVersion:
    """One version of a signing certificate."""

    version: str
    material: KeyMaterial
    created: dt.datetime
    expires: dt.datetime | None = None
    enabled: bool = True

    @cached_property
    def algorithm(self) -> str:
        return "RS256" if isinstance(self.material.private_key, rsa.RSAPrivateKey) else "ES256"

    @cached_property
    def public_key(self) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
        return self.material.private_key.public_key()

    @cached_property
    def public_jwk(self) -> dict[str, Any]:
        """The RFC 7518 §6 public members (the ones the RFC 7638 thumbprint covers)."""
        if isinstance(self.public_key, rsa.RSAPublicKey):
            numbers = self.public_key.public_numbers()
            return {"kty": "RSA", "n": _b64url_int(numbers.n), "e": _b64url_int(numbers.e)}
        point = self.public_key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _b64url_int(point.x, 32), "y": _b64url_int(point.y, 32)}

    @cached_property
    def kid(self) -> str:
        # RFC 7638 §3: the required members only, sorted, no white space.
        members = json.dumps(self.public_jwk, sort_keys=True, separators=(",", ":"))
        return _b64url(hashlib.sha256(members.encode()).digest())

    def usable_at(self, now: dt.datetime) -> bool:
        not_after = min((t for t in (self.expires, self.material.not_after) if t), default=None)
        return self.enabled and (not_after is None or now < not_after)

    def published_jwk(self) -> dict[str, Any]:
        jwk = {**self.public_jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}
        if self.material.certificates:
            ders = [c.public_bytes(serialization.Encoding.DER) for c in self.material.certificates]
            jwk["x5c"] = [base64.b64encode(der).decode() for der in ders]
            jwk["x5t#S256"] = _b64url(hashlib.sha256(ders[0]).digest())
        return jwk


class KeySource(Protocol):
    """Where versions of a signing certificate come from."""

    description: str

    def load(self) -> Sequence[KeyVersion]:
        """Every version, enabled or not; raise ``KeyStoreUnavailable`` on failure."""
        ...


@dataclass(frozen=True, eq=False)
class KeySet:
    signer: KeyVersion
    trusted: dict[str, KeyVersion]
    newest_first: tuple[KeyVersion, ...]
    published: tuple[KeyVersion, ...]
    jwks_body: bytes
    etag: str

    @cached_property
    def trusted_id(self) -> str:
        """Names the trusted set: a cached verification is only good while this is unchanged."""
        return ",".join(sorted(self.trusted))

    @cached_property
    def algorithms(self) -> frozenset[str]:
        """The algorithms of the trusted keys: what a token verified against this set may be signed with."""
        return frozenset(version.algorithm for version in self.trusted.values())

    def candidates(self, kid: str | None) -> Sequence[KeyVersion]:
        if kid is None:
            return self.newest_first[:LEGACY_TRIES]
        version = self.trusted.get(kid)
        return (version,) if version else ()

    def lookup(self, kid: str | None, algorithm: str) -> list[VerificationKey]:
        return [v.public_key for v in self.candidates(kid) if v.algorithm == algorithm]


@dataclass
class KeyRing:
    source: KeySource
    now: Callable[[], dt.datetime]
    overlap: dt.timedelta = dt.timedelta(hours=2)
    retention: dt.timedelta = dt.timedelta(minutes=16)  # payer token lifetime + leeway
    _current: KeySet | None = None
    _retired: dict[str, tuple[KeyVersion, dt.datetime]] = field(default_factory=dict)
    algorithm: str | None = None  # pin the ring to one algorithm (payer ring); None: any we support
    cold_retry: dt.timedelta = dt.timedelta(seconds=5)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _first_load: threading.Lock = field(default_factory=threading.Lock)
    _last_attempt: dt.datetime | None = None
    last_error: str | None = None

    def current(self) -> KeySet:
        """The loaded key set: no I/O once loaded.  Cold, load inline, at most every ``cold_retry``."""
        current = self._current
        if current is not None:
            return current
        return self._load_first()

    def _load_first(self) -> KeySet:
        # Concurrent first callers wait for the one load in flight (bounded by the key store's own
        # timeouts) instead of failing while it runs; after a failed load they fail with its reason.
        with self._first_load:
            last = self._last_attempt
            if self._current is None and (last is None or self.now() - last >= self.cold_retry):
                self.refresh()
            current = self._current
        if current is None:
            reason = self.last_error or "the key store has not answered"
            raise KeyStoreUnavailable(f"no signing keys are loaded: {reason}")
        return current

    def refresh(self) -> bool:
        """Reload from the source; keep the last good set on failure. True if it worked."""
        with self._lock:
            self._last_attempt = self.now()
            iocounts.count("key store loads")
            try:
                versions = self.source.load()
                keyset = self._build(versions, self.now())
            except PayerAuthError as exc:
                telemetry.key_refreshes.add(1, {"outcome": "failed", "reason": exc.reason})
                self.last_error = exc.description
                log.warning("key refresh from %s failed (%s): %s", self.source.description, exc.reason, exc.description)
                return False
            self.last_error = None
            self._current = keyset
            telemetry.key_refreshes.add(1, {"outcome": "ok"})
            return True

    def _build(self, versions: Sequence[KeyVersion], now: dt.datetime) -> KeySet:
        usable = sorted(
            (v for v in versions if v.usable_at(now) and self.algorithm in (None, v.algorithm)),
            key=lambda v: v.created,
            reverse=True,
        )
        if not usable:
            wanted = f"{self.algorithm} " if self.algorithm else ""
            raise KeyStoreUnavailable(f"{self.source.description} has no enabled, unexpired {wanted}key version")
        trusted = {v.kid: v for v in usable}
        matured = [v for v in usable if v.created + self.overlap <= now]
        signer = matured[0] if matured else usable[-1]
        self._retire(trusted, now)
        published = (*usable, *(v for v, _ in self._retired.values()))
        body = json.dumps({"keys": [v.published_jwk() for v in published]}, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return KeySet(signer, trusted, tuple(usable), published, body, etag)

    def _retire(self, trusted: dict[str, KeyVersion], now: dt.datetime) -> None:
        """Keep publishing versions that left the trusted set while tokens they signed live."""
        previous = self._current.trusted.values() if self._current else ()
        for version in previous:
            if version.kid not in trusted and version.kid not in self._retired:
                self._retired[version.kid] = (version, now + self.retention)
        for kid, (_, until) in list(self._retired.items()):
            if kid in trusted or until <= now:
                del self._retired[kid]

    def sign(self, claims: dict[str, Any], *, typ: str) -> str:
        """A compact JWS of ``claims`` by PyJWT, header ``{"alg", "kid", "typ"}`` (PyJWT sorts it).

        Raises ``TypeError`` or ``ValueError`` for claims that are not JSON (``NaN`` included: we never
        sign what we would refuse).
        """
        signer = self.current().signer
        return jwt.encode(
            claims,
            signer.material.private_key,
            algorithm=signer.algorithm,
            headers={"kid": signer.kid, "typ": typ},
            json_encoder=_StrictJSON,
        )


class _StrictJSON(json.JSONEncoder):
    def __init__(self, **options: Any) -> None:
        super().__init__(**{**options, "allow_nan": False})


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_int(value: int, size: int | None = None) -> str:
    return _b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


class KeyRefresher:
    """Refreshes key rings on a schedule in a daemon thread, off every request's path."""

    def __init__(self, rings: Sequence[KeyRing], interval: float) -> None:
        self.rings = rings
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="key-refresher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for ring in self.rings:
                ring.refresh()
