"""The domain claim against request origins (contract: 'The request's origin must match')."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import InvalidRequest
from shared.origins import ascii_origins, parse_domain, parse_origin, parse_registrable_domain, request_origin


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


@pytest.mark.parametrize(
    ("domain", "origin", "admitted"),
    [
        ("*.biller-site.com", "https://pay.biller-site.com:8443", False),  # no port: the scheme's default only
        ("*.biller-site.com", "https://pay.biller-site.com:443", True),
        ("*.biller-site.com:8443", "https://pay.biller-site.com:8443", True),
        ("*.biller-site.com:8443", "https://pay.biller-site.com", False),
        ("*.biller-site.com:8443", "https://pay.biller-site.com:9443", False),
        ("*.0.0.1:8080", "http://127.0.0.1:8080", False),  # an IP address has no subdomains
        ("*.0.1", "https://10.0.0.1", False),
    ],
)
def test_a_wildcard_domain_admits_its_own_port_and_subdomains_only(domain: str, origin: str, admitted: bool) -> None:
    assert admits(domain, origin) is admitted


# --- the rule against a reference model ------------------------------------------------------------------

DEFAULT_PORT = {"https": 443, "http": 80}
LABELS = ["a", "pay", "biller", "evilbiller", "biller-site", "xn--bcher-kva"]
TLDS = ["com", "example"]
PORTS = [None, 80, 443, 3000, 8443]


@st.composite
def dns_hosts(draw: st.DrawFn) -> list[str]:
    """A host as its labels, from a small alphabet so that equal hosts and suffixes come up often."""
    return [*draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3)), draw(st.sampled_from(TLDS))]


def model_admits(
    rule_labels: list[str],
    rule_port: int | None,
    wildcard: bool,
    scheme: str,
    origin_labels: list[str],
    origin_port: int | None,
) -> bool:
    """The contract's rule, written label by label: no port means the scheme's default port."""
    if (origin_port or DEFAULT_PORT[scheme]) != (rule_port or DEFAULT_PORT[scheme]):
        return False
    if wildcard:
        return len(origin_labels) > len(rule_labels) and origin_labels[-len(rule_labels) :] == rule_labels
    return origin_labels == rule_labels


def with_port(host: str, port: int | None) -> str:
    return host if port is None else f"{host}:{port}"


@settings(max_examples=400, deadline=None)
@given(
    rule_labels=dns_hosts(),
    rule_port=st.sampled_from(PORTS),
    wildcard=st.booleans(),
    origin_labels=dns_hosts(),
    origin_port=st.sampled_from(PORTS),
    share_suffix=st.booleans(),
    upper=st.booleans(),
    trailing_dot=st.booleans(),
)
def test_the_domain_rule_matches_the_reference_model(
    rule_labels: list[str],
    rule_port: int | None,
    wildcard: bool,
    origin_labels: list[str],
    origin_port: int | None,
    share_suffix: bool,
    upper: bool,
    trailing_dot: bool,
) -> None:
    if share_suffix:  # often put the origin under, or at, the rule's host
        origin_labels = origin_labels[:-1] + rule_labels
    domain = with_port(("*." if wildcard else "") + ".".join(rule_labels), rule_port)
    host = ".".join(origin_labels)
    host = (host.upper() if upper else host) + ("." if trailing_dot else "")
    origin = "https://" + with_port(host, origin_port)
    expected = model_admits(rule_labels, rule_port, wildcard, "https", origin_labels, origin_port)
    assert admits(domain, origin, dev=False) is expected, (domain, origin)


@settings(max_examples=200, deadline=None)
@given(
    rule_host=st.sampled_from(["localhost", "127.0.0.1", "[::1]"]),
    rule_port=st.sampled_from(PORTS),
    origin_host=st.sampled_from(["localhost", "127.0.0.1", "[::1]", "LOCALHOST"]),
    origin_port=st.sampled_from(PORTS),
    scheme=st.sampled_from(["http", "https"]),
)
def test_loopback_origins_match_the_reference_model_on_either_scheme(
    rule_host: str, rule_port: int | None, origin_host: str, origin_port: int | None, scheme: str
) -> None:
    origin = f"{scheme}://" + with_port(origin_host, origin_port)
    expected = model_admits([rule_host], rule_port, False, scheme, [origin_host.lower()], origin_port)
    assert admits(with_port(rule_host, rule_port), origin) is expected, (rule_host, rule_port, origin)


# --- edges the mutation run found untested -------------------------------------------------------------------


LONGEST_HOST = ".".join(["a" * 63] * 3 + ["b" * 57, "com"])  # 253 characters, no label over 63


def reason_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidRequest) as refused:
        call(*args, **kwargs)
    return refused.value.reason


@pytest.mark.parametrize(
    ("origin", "reason"),
    [
        ("https://:secret@biller-site.com", "origin_invalid"),  # a password without a user name
        ("https://biller-site.com:99999", "origin_invalid"),  # a port urlsplit cannot read
        ("https://biller-site.com:x", "origin_invalid"),
        ("wss://biller-site.com", "origin_not_https"),  # schemes after "https" in sort order too
        ("ws://localhost:8080", "origin_not_https"),  # plain http only, even on loopback
        ("nullish://biller-site.com", "origin_not_https"),  # not the opaque origin 'null'
        ("ftp://localhost:8080", "origin_not_https"),  # nor schemes before "http"
    ],
)
def test_each_refused_origin_names_its_reason(origin: str, reason: str) -> None:
    assert reason_of(request_origin, origin, None, allow_http_loopback=True) == reason


@pytest.mark.parametrize(
    ("origin", "serialized"),
    [
        ("https://biller-site.com:443", "https://biller-site.com"),  # the default port, written out, is dropped
        ("https://biller-site.com:80", "https://biller-site.com:80"),
        ("http://localhost:443", "http://localhost:443"),
        ("http://localhost:80", "http://localhost"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_origins_serialize_with_a_port_only_when_it_is_not_the_schemes_default(origin: str, serialized: str) -> None:
    assert request_origin(origin, None, allow_http_loopback=True).serialize() == serialized


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("", "domain_invalid"),
        ("biller.com/pay", "domain_invalid"),
        ("https://biller.com", "domain_invalid"),
        ("biller.com:0", "domain_invalid"),
        ("biller.com:65536", "domain_invalid"),
        ("biller.com:-1", "domain_invalid"),
        ("*.com", "domain_invalid"),
        ("*.127.0.0.1", "domain_invalid"),
        ("[::zz]", "host_invalid"),
        ("[::1]x", "domain_invalid"),
        (LONGEST_HOST.replace(".com", "x.com"), "host_invalid"),
    ],
)
def test_each_refused_domain_names_its_reason(domain: str, reason: str) -> None:
    assert reason_of(parse_domain, domain) == reason


@pytest.mark.parametrize(
    ("domain", "host", "port"),
    [
        ("biller.com:1", "biller.com", 1),
        ("biller.com:65535", "biller.com", 65535),
        ("::1", "[::1]", None),  # an IPv6 address without brackets or port
        ("[::1]:8080", "[::1]", 8080),
        (LONGEST_HOST, LONGEST_HOST, None),
        ("\uff42\uff49\uff4c\uff4c\uff45\uff52.example", "biller.example", None),  # UTS #46 maps full-width letters
    ],
)
def test_domains_at_their_limits_are_parsed(domain: str, host: str, port: int | None) -> None:
    rule = parse_domain(domain)
    assert (rule.host, rule.port) == (host, port)


def test_parsed_origins_and_rules_are_immutable_because_the_cache_shares_them() -> None:
    origin = parse_origin("https://biller-site.com", allow_http_loopback=False)
    rule = parse_domain("*.biller-site.com")
    with pytest.raises(dataclasses.FrozenInstanceError):
        origin.host = "evil.example"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rule.wildcard = False  # type: ignore[misc]


@pytest.mark.parametrize(
    ("domain", "refused"),
    [
        ("*.co.uk", True),
        ("*.github.io", True),  # every site under a public suffix
        ("*.biller-site.co.uk", False),
        ("*.pay.github.io", False),
        ("github.io", False),  # no wildcard: that one host only
    ],
)
def test_a_new_biller_jwt_may_not_wildcard_a_public_suffix(domain: str, refused: bool) -> None:
    if refused:
        assert reason_of(parse_registrable_domain, domain) == "domain_public_suffix"
    else:
        assert parse_registrable_domain(domain) == parse_domain(domain)


def test_registered_origins_become_header_safe_ascii_and_an_invalid_one_drops_only_itself() -> None:
    registered = [
        "https://bücher.example",
        "not an origin",
        "https://partner.example:8443",
        "http://127.0.0.1:8080",  # development: a loopback page may frame the login
        "https://Partner.Example/",
    ]
    assert ascii_origins(registered) == (
        "https://xn--bcher-kva.example",
        "https://partner.example:8443",
        "http://127.0.0.1:8080",
        "https://partner.example",
    )
