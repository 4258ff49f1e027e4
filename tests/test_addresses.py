"""The address policy as data, and URLs read the way the connection reads them.

Every address below is judged without sending anything: the checks resolve names through a
replaced ``socket.getaddrinfo``, and literal addresses are never connected to.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from imagegate.addresses import (
    ALWAYS_REFUSED,
    NON_GLOBAL,
    check_endpoint,
    check_url,
    checked_proxies,
    embedded,
    is_private_host,
    non_global,
    refused_always,
)
from imagegate.errors import UnusableAnswer, UsageError


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """Every name resolves to one public address (no lookup leaves the machine)."""
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("93.184.215.14", 0))])


# -- one parser: what the check reads is what the connection reads --------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080\\@images.example.test/internal.png",  # urllib3 ends the host at "\"
        "http://169.254.169.254\\@8.8.8.8/latest/meta-data/",
        "http://169.254.169.254\\@127.0.0.1/",
        "http://images.example.test\\.127.0.0.1/x.png",
        "http://a@b@images.example.test/x.png",
        "http://%31%32%37.0.0.1/x.png",  # requests decodes it to 127.0.0.1; urlsplit does not
        "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x.png",  # fullwidth digits
        "http://ima\u0261es.example.test/x.png",
        "http://images.example.test\t/x.png",
        "http://images.example.test /x.png",
        "http://images.example.test\n@127.0.0.1/x.png",
        " http://127.0.0.1/x.png",
        "http://[fe80::1%25eth0]/x.png",
    ],
)
def test_a_url_parsers_read_differently_is_refused_whoever_the_provider(url) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnusableAnswer, match="refusing"):
            check_url(url, allow_private=allow_private)


@pytest.mark.parametrize(
    "host",
    [
        "2130706433",
        "0x7f000001",
        "017700000001",
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.1",
        "127.0.1",
        "127.0.0.1.",
    ],
)
def test_an_ipv4_address_in_another_notation_is_refused(host) -> None:
    for allow_private in (False, True):
        with pytest.raises(UnusableAnswer, match="non-standard notation"):
            check_url(f"http://{host}/x.png", allow_private=allow_private)


def test_user_info_does_not_hide_the_host_that_is_checked() -> None:
    with pytest.raises(UnusableAnswer, match="loopback"):
        check_url("http://images.example.test:80@127.0.0.1/x.png", allow_private=False)
    check_url("http://user:pass@images.example.test/x.png", allow_private=False)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1:8080\\@127.0.0.1/v1",
        "http://gateway.example\\@10.0.0.1/v1",
        "http://gateway.example\t@10.0.0.1/v1",
        "http://0x7f.1/v1",
    ],
)
def test_a_base_url_parsers_read_differently_is_refused(url) -> None:
    with pytest.raises(UsageError):
        check_endpoint(url)


@pytest.mark.parametrize(
    "proxy",
    [
        "http://proxy.evil.example:3128\\@10.0.0.1",
        "proxy.evil.example:3128\\@10.0.0.1",
        "http://0x0a000001:3128",
    ],
)
def test_a_proxy_parsers_read_differently_does_not_pass_the_plaintext_rule(monkeypatch, proxy) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    with pytest.raises(UsageError):
        checked_proxies("http://10.0.0.5:9/v1/images/generations")


def test_plain_private_endpoints_and_proxies_still_pass(monkeypatch) -> None:
    check_endpoint("http://10.0.0.5:9/v1")
    check_endpoint("http://localhost:9/v1")
    check_endpoint("https://api.example.test/v1")
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.2:3128")
    assert checked_proxies("http://10.0.0.5:9/v1/x")


# -- the policy as data: every non-global address, in every notation ----------------------------
METADATA = [
    "169.254.169.254",  # AWS, GCP, Microsoft, DigitalOcean, OpenStack, Oracle's older endpoint
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS over IPv6
    "fd20:ce::254",  # GCP over IPv6
    "168.63.129.16",  # Microsoft's WireServer
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
    "fe80::1",
]
EMBEDDING = [
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::169.254.169.254",  # IPv4-compatible (deprecated)
    "64:ff9b::a9fe:a9fe",  # NAT64 well-known prefix
    "2002:a9fe:a9fe::1",  # 6to4
    "2001:0:4136:e378:8000:63bf:5601:5601",  # Teredo, client 169.254.169.254 (obfuscated)
]
NON_GLOBAL_ADDRESSES = [
    "0.0.0.0",
    "10.1.2.3",
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "127.0.0.1",
    "172.16.0.1",
    "192.0.0.8",
    "192.0.2.1",
    "192.168.1.1",
    "198.18.0.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::",
    "::1",
    "::127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b:1::1",
    "2002:7f00:1::",
    "2001:db8::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
]
GLOBAL = ["8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "2002:808:808::1", "64:ff9b::808:808"]


def url_of(address: str) -> str:
    return f"http://[{address}]/x.png" if ":" in address else f"http://{address}/x.png"


@pytest.mark.parametrize("address", METADATA + EMBEDDING)
def test_link_local_and_metadata_addresses_are_refused_even_for_a_local_provider(address) -> None:
    assert refused_always(ipaddress.ip_address(address))
    with pytest.raises(UnusableAnswer, match="link-local or cloud-metadata"):
        check_url(url_of(address), allow_private=True)


@pytest.mark.parametrize("address", NON_GLOBAL_ADDRESSES)
def test_every_non_global_address_is_refused_for_a_public_provider(address) -> None:
    assert non_global(ipaddress.ip_address(address))
    with pytest.raises(UnusableAnswer, match="loopback or private"):
        check_url(url_of(address), allow_private=False)


@pytest.mark.parametrize("address", GLOBAL)
def test_a_global_address_is_fetched(address) -> None:
    assert non_global(ipaddress.ip_address(address)) is None
    check_url(url_of(address), allow_private=False)


@pytest.mark.parametrize(
    "name",
    ["metadata.google.internal", "METADATA.GOOGLE.INTERNAL.", "metadata.goog", "instance-data.ec2.internal"],
)
def test_a_metadata_host_name_is_refused_before_it_is_resolved(name) -> None:
    with pytest.raises(UnusableAnswer, match="metadata"):
        check_url(f"http://{name}/computeMetadata/v1/", allow_private=True)


@pytest.mark.parametrize(
    "name", ["printer.local", "db.internal", "nas.home.arpa", "app.localhost", "localhost."]
)
def test_a_local_name_is_refused_for_a_public_provider(name) -> None:
    with pytest.raises(UnusableAnswer, match="loopback or private"):
        check_url(f"http://{name}/x.png", allow_private=False)


def test_a_name_resolving_to_a_metadata_address_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(10, 1, 6, "", ("64:ff9b::a9fe:a9fe", 0, 0, 0))]
    )
    with pytest.raises(UnusableAnswer, match="cloud-metadata"):
        check_url("http://images.example.test/x.png", allow_private=True)


def test_the_tables_are_networks_with_reasons() -> None:
    for network, why in ALWAYS_REFUSED + NON_GLOBAL:
        assert isinstance(network, (ipaddress.IPv4Network, ipaddress.IPv6Network)) and why


def test_an_embedded_address_is_found_in_every_notation() -> None:
    inner = ipaddress.ip_address("169.254.169.254")
    for address in EMBEDDING:
        assert inner in embedded(ipaddress.ip_address(address)), address


@pytest.mark.parametrize(
    ("host", "private"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("[fd12::1]", True),
        ("localhost", True),
        ("0.0.0.0", True),  # connecting to it reaches this host
        ("198.18.0.1", False),
        ("100.64.0.1", False),  # shared address space is an ISP's network, not yours
        ("169.254.169.254", False),
        ("[fd00:ec2::254]", False),
        ("[::ffff:8.8.8.8]", False),
        ("8.8.8.8", False),
    ],
)
def test_plaintext_is_tolerated_only_on_loopback_and_private_ranges(host, private) -> None:
    assert is_private_host(host) is private
