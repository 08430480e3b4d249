"""The domain claim against request origins (contract: 'The request's origin must match')."""

from __future__ import annotations

import pytest

from shared.errors import InvalidRequest
from shared.origins import parse_domain, parse_origin, request_origin


def admits(domain: str, origin: str, *, dev: bool = True) -> bool:
    return parse_domain(domain).admits(parse_origin(origin, allow_http_loopback=dev))


@pytest.mark.parametrize(
    ("domain", "origin"),
    [
        ("biller-site.com", "https://biller-site.com"),
        ("biller-site.com", "https://BILLER-SITE.com."),
        ("biller-site.com:8443", "https://biller-site.com:8443"),
        ("*.biller-site.com", "https://pay.biller-site.com"),
        ("bücher.example", "https://xn--bcher-kva.example"),
        ("localhost:3000", "http://localhost:3000"),
        ("[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_matching_origins(domain: str, origin: str) -> None:
    assert admits(domain, origin)


@pytest.mark.parametrize(
    ("domain", "origin"),
    [
        ("biller-site.com", "https://evilbiller-site.com"),
        ("biller-site.com", "https://biller-site.com.evil.example"),
        ("biller-site.com", "https://pay.biller-site.com"),
        ("biller-site.com", "https://biller-site.com:8443"),
        ("*.biller-site.com", "https://biller-site.com"),
        ("*.biller-site.com", "https://evilbiller-site.com"),
        ("biller-site.com:8443", "https://biller-site.com"),
    ],
)
def test_non_matching_origins(domain: str, origin: str) -> None:
    assert not admits(domain, origin)


@pytest.mark.parametrize(
    "origin",
    [
        "http://biller-site.com",
        "ftp://biller-site.com",
        "https://u:p@biller-site.com",
        "https://biller-site.com/path",
        "https://",
        "not an origin",
    ],
)
def test_origins_that_are_refused_outright(origin: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_origin(origin, allow_http_loopback=True)


def test_plain_http_loopback_is_refused_outside_development() -> None:
    with pytest.raises(InvalidRequest, match="https"):
        parse_origin("http://localhost:8080", allow_http_loopback=False)


@pytest.mark.parametrize(
    "domain",
    ["https://biller.com", "biller.com/pay", "user@biller.com", "*.com", "*", "", "biller.com:99999", "*.127.0.0.1"],
)
def test_malformed_domains_are_refused(domain: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_domain(domain)


def test_origin_null_and_missing_headers_are_rejected() -> None:
    with pytest.raises(InvalidRequest, match="null"):
        request_origin("null", None, allow_http_loopback=True)
    with pytest.raises(InvalidRequest, match="neither"):
        request_origin(None, None, allow_http_loopback=True)
    assert request_origin(None, "https://b.example/x?y", allow_http_loopback=True).serialize() == "https://b.example"
