"""Web origins and the biller JWT's ``domain`` claim.

``domain`` is ``host``, ``host:port`` or ``*.host[:port]``.  A wildcard admits
subdomains only, never the bare parent, and never a look-alike through a
suffix (``evilbiller-site.com`` is not under ``biller-site.com``).  Hosts
compare after IDNA (UTS #46) normalisation, lower case, no trailing dot.  The
scheme must be https, except http on loopback hosts in development.  Without a
port, ``domain`` admits the scheme's default port only.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import idna

from shared.errors import InvalidRequest
from shared.hosts import LOOPBACK_HOSTS
from shared.reasons import Reason

DEFAULT_PORTS = {"https": 443, "http": 80}
MAX_HOST_LENGTH = 253


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str  # normalised; IPv6 in brackets
    port: int

    def serialize(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


@dataclass(frozen=True)
class DomainRule:
    host: str
    port: int | None
    wildcard: bool

    def admits(self, origin: Origin) -> bool:
        port_ok = origin.port == (self.port if self.port is not None else DEFAULT_PORTS[origin.scheme])
        if self.wildcard:
            # An IP address has no subdomains: *.0.0.1 must not admit 127.0.0.1.
            return port_ok and origin.host.endswith("." + self.host) and not _is_ip(origin.host)
        return port_ok and origin.host == self.host


def request_origin(origin_header: str | None, referer_header: str | None, *, allow_http_loopback: bool) -> Origin:
    """The request's origin: ``Origin``, else the origin of ``Referer``."""
    if origin_header is not None:
        raw = origin_header.strip()
        if raw == "null":
            raise InvalidRequest(
                "the request's Origin is 'null' (an opaque origin); the biller page must be served from its own site",
                reason=Reason.ORIGIN_NULL,
            )
        return parse_origin(raw, allow_http_loopback=allow_http_loopback)
    if referer_header:
        parts = urlsplit(referer_header.strip())
        return parse_origin(f"{parts.scheme}://{parts.netloc}", allow_http_loopback=allow_http_loopback)
    raise InvalidRequest(
        "the request carries neither Origin nor Referer, so its origin cannot be matched to the biller JWT's domain",
        reason=Reason.ORIGIN_MISSING,
    )


@functools.lru_cache(maxsize=4096)  # a pure function on the hot path; IDNA is not cheap
def parse_origin(value: str, *, allow_http_loopback: bool) -> Origin:
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise InvalidRequest("the request's origin is not a valid origin", reason=Reason.ORIGIN_INVALID) from None
    if parts.username or parts.password or parts.path not in ("", "/") or parts.query or not parts.hostname:
        raise InvalidRequest("the request's origin is not a valid origin", reason=Reason.ORIGIN_INVALID)
    host = normalize_host(parts.hostname)
    scheme = parts.scheme.lower()
    if scheme == "http" and host in LOOPBACK_HOSTS and allow_http_loopback:
        pass
    elif scheme != "https":
        raise InvalidRequest("the request's origin must use https", reason=Reason.ORIGIN_NOT_HTTPS)
    return Origin(scheme, host, port if port is not None else DEFAULT_PORTS[scheme])


def ascii_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """Registered origins as header-safe ASCII serializations (IDNA hosts as punycode); invalid ones dropped."""
    serialized = []
    for origin in origins:
        try:
            serialized.append(parse_origin(origin, allow_http_loopback=True).serialize())
        except InvalidRequest:
            continue
    return tuple(serialized)


@functools.lru_cache(maxsize=4096)
def parse_domain(value: str) -> DomainRule:
    """Parse a ``domain`` claim or admin input; raise ``InvalidRequest`` when malformed."""
    text = value.strip()
    if not text or any(c in text for c in "/@?#\\ ") or "://" in text:
        raise InvalidRequest(
            "domain must be a host, host:port or *.host, with no scheme, path or user", reason=Reason.DOMAIN_INVALID
        )
    wildcard = text.startswith("*.")
    if wildcard:
        text = text[2:]
    host, port = _split_port(text)
    rule = DomainRule(normalize_host(host), port, wildcard)
    if wildcard and ("." not in rule.host or rule.host.startswith("[") or _is_ip(rule.host)):
        raise InvalidRequest(
            "a wildcard domain needs a registrable domain under it, e.g. *.biller.com", reason=Reason.DOMAIN_INVALID
        )
    return rule


def parse_registrable_domain(value: str) -> DomainRule:
    """A ``domain`` we will put in a new biller JWT: also no wildcard over a public suffix (``*.co.uk``)."""
    rule = parse_domain(value)
    if rule.wildcard and _public_suffixes().is_public(rule.host):
        raise InvalidRequest(
            f"*.{rule.host} would admit every site under a public suffix; name the biller's "
            "own domain, e.g. *.biller.com",
            reason=Reason.DOMAIN_PUBLIC_SUFFIX,
        )
    return rule


@functools.cache
def _public_suffixes() -> Any:
    from publicsuffixlist import PublicSuffixList  # the bundled list; loaded once, on first use

    return PublicSuffixList()


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text.partition("]")
        host += "]"
        port_text = rest[1:] if rest.startswith(":") else None
        if rest and port_text is None:
            raise InvalidRequest("domain has junk after its IPv6 address", reason=Reason.DOMAIN_INVALID)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidRequest("domain has an invalid port", reason=Reason.DOMAIN_INVALID)
    return host, int(port_text)


def normalize_host(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    if host.startswith("[") or ":" in host:
        try:
            return "[" + str(ipaddress.IPv6Address(host.strip("[]"))) + "]"
        except ValueError:
            raise InvalidRequest("host is not a valid IPv6 address", reason=Reason.HOST_INVALID) from None
    if not host or len(host) > MAX_HOST_LENGTH:
        raise InvalidRequest("host is empty or too long", reason=Reason.HOST_INVALID)
    if _is_ip(host):
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidRequest("host is not a valid domain name", reason=Reason.HOST_INVALID) from None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False
