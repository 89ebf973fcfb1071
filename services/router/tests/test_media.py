"""Image URLs from requests: https only, and never a private, loopback or link-local address."""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from gateway_router.errors import RequestRejected
from gateway_router.media import ForbiddenAddress, MediaFetcher, PublicAddressResolver, checked_url, is_public_address


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
        ("not-an-address", False),
    ],
)
def test_public_address(address: str, public: bool) -> None:
    assert is_public_address(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "ftp://example.com/a.png",
        "https:///a.png",
        "https://127.0.0.1/a.png",
        "https://[::1]/a",
    ],
)
def test_url_rejected_before_any_connection(url: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        checked_url(url, "messages[0].content[0].image_url.url")

    assert caught.value.param == "messages[0].content[0].image_url.url"
    assert caught.value.status == 400


def test_host_name_is_left_to_the_resolver() -> None:
    assert checked_url("https://example.com/a.png", "p").host == "example.com"


class FixedResolver(AbstractResolver):
    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.addresses
        ]

    async def close(self) -> None:
        pass


async def test_resolver_rejects_a_host_with_any_private_address() -> None:
    resolver = PublicAddressResolver(FixedResolver("93.184.216.34", "10.0.0.1"))

    with pytest.raises(ForbiddenAddress):
        await resolver.resolve("rebinding.example", 443)


async def test_resolver_passes_public_addresses() -> None:
    resolver = PublicAddressResolver(FixedResolver("93.184.216.34"))

    results = await resolver.resolve("example.com", 443)

    assert [result["host"] for result in results] == ["93.184.216.34"]


async def test_fetcher_refuses_host_resolving_to_loopback() -> None:
    fetcher = MediaFetcher(1024, 5, resolver=FixedResolver("127.0.0.1"))
    try:
        with pytest.raises(RequestRejected) as caught:
            await fetcher.fetch_image("https://internal.example/cat.png", "messages[0].content[1].image_url.url")
    finally:
        await fetcher.close()

    assert "private, loopback or link-local" in caught.value.message
