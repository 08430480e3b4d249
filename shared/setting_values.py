"""Parsing and checking one setting's value: each parser returns the value or raises ``ValueError`` with
what was expected (``Settings`` names the setting and collects every problem)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from shared.hosts import LOOPBACK_HOSTS, METADATA_ADDRESSES


def ip_of(host: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address((host or "").strip("[]").split("%")[0])
    except ValueError:
        return None


def is_loopback_ip(host: str | None) -> bool:
    ip = ip_of(host)
    return ip is not None and ip.is_loopback


def never_allow_listed(host: str) -> bool:
    ip = ip_of(host)
    if ip is None:
        return host.rstrip(".") in LOOPBACK_HOSTS or host.rstrip(".").endswith(".localhost")
    return ip.is_loopback or ip.is_link_local or ip in METADATA_ADDRESSES


def one_of(*choices: str) -> Callable[[str], Any]:
    def parse(value: str) -> Any:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


def int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.lstrip("-").isdigit():
            raise ValueError("not a whole number")
        number = int(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low} and {high}")
        return number

    return parse


def nonempty(value: str) -> str:
    return value


def url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("expected an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("plain http is allowed for loopback hosts only")
    return value


def base_url(value: str) -> str:
    return url(value).rstrip("/")


def host_set(value: str) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in value.split(",") if h.strip())


def boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError("expected true or false")
    return lowered in ("true", "1")


def vault_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("expected https://<vault-name>.vault.azure.net")
    return value.rstrip("/")


def secret_name(value: str) -> str:
    # Key Vault object names: 1-127 alphanumerics and dashes.
    if not 0 < len(value) <= 127 or not value.replace("-", "").isalnum():
        raise ValueError("expected 1-127 letters, digits and dashes")
    return value


def cookie_name(value: str) -> str:
    # __Host- pins the cookie to our host, Secure and Path=/ (RFC 6265bis §4.1.3.2).
    if not value.startswith("__Host-") or not value[7:].replace("_", "").replace("-", "").isalnum():
        raise ValueError("expected __Host- followed by letters, digits, '-' or '_'")
    return value


def connection(value: str) -> str:
    kind, sep, rest = value.partition(":")
    if not sep or kind not in ("sqlite", "odbc") or not rest:
        raise ValueError("expected 'sqlite:<path>' or 'odbc:<connection string>'")
    return value


def shard_map(value: str) -> Mapping[str, str]:
    data = json.loads(value)
    if not isinstance(data, dict) or not data:
        raise ValueError("expected a non-empty JSON object of shard name to connection")
    for name, conn in data.items():
        if not isinstance(conn, str):
            raise ValueError(f"shard {name!r} must map to a string")
        connection(conn)
    return dict(data)
