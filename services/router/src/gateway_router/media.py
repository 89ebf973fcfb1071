"""Fetching the images that a request names by URL, for providers that need their bytes.

A URL taken from a request is fetched only over https, and never from an
address that is not globally routable: private, loopback, link-local,
shared, reserved, multicast or unspecified. Every address a host name
resolves to is checked, and the connection goes to the checked addresses
only, because the check runs inside the connector's resolver. A redirect is
checked the same way. A refused or failed fetch is the client's problem and
answers 400.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from gateway_router.errors import RequestRejected

MAX_REDIRECTS = 3
_CHUNK_BYTES = 64 * 1024


class ForbiddenAddress(OSError):
    """A host resolved to an address that the gateway must not connect to."""


def is_public_address(address: str) -> bool:
    """Return whether `address` is globally routable, judging IPv4-mapped IPv6 addresses as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicAddressResolver(AbstractResolver):
    """A resolver that fails unless every address of the host is public."""

    def __init__(self, resolver: AbstractResolver | None = None) -> None:
        self._resolver = resolver or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        blocked = [result["host"] for result in results if not is_public_address(result["host"])]
        if blocked:
            raise ForbiddenAddress(f"`{host}` resolves to a non-public address ({blocked[0]})")
        return results

    async def close(self) -> None:
        await self._resolver.close()


def checked_url(url: str, param: str) -> URL:
    """Parse `url` and reject what must never be fetched, before any connection."""
    parsed = URL(url)
    if parsed.scheme != "https" or not parsed.host:
        raise RequestRejected(f"Invalid `{param}`: the gateway fetches images over https only.", param=param)
    host = parsed.host.strip("[]")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        # A host name: the resolver checks its addresses.
        return parsed
    # aiohttp skips the resolver for an address written in the URL, so it is checked here.
    if not is_public_address(host):
        raise RequestRejected(
            f"Invalid `{param}`: the gateway does not fetch from private, loopback or link-local addresses.",
            param=param,
        )
    return parsed


class MediaFetcher:
    """Downloads images over https within a size and time limit."""

    def __init__(self, max_bytes: int, timeout_seconds: float, resolver: AbstractResolver | None = None) -> None:
        self._max_bytes = max_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._resolver = PublicAddressResolver(resolver)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def fetch_image(self, url: str, param: str) -> tuple[str, str]:
        """Return the image's media type and its bytes in base64."""
        target = checked_url(url, param)
        session = self._client()
        try:
            for _redirect in range(MAX_REDIRECTS + 1):
                async with session.get(target, allow_redirects=False) as response:
                    location = response.headers.get("Location")
                    if response.status in (301, 302, 303, 307, 308) and location:
                        target = checked_url(str(target.join(URL(location))), param)
                        continue
                    return await self._read_image(response, param)
        except aiohttp.ClientConnectorDNSError as error:
            if isinstance(error.os_error, ForbiddenAddress):
                raise RequestRejected(
                    f"Invalid `{param}`: the gateway does not fetch from private, loopback or link-local addresses.",
                    param=param,
                ) from error
            raise _fetch_failed(param, "its host name does not resolve") from error
        except aiohttp.InvalidURL as error:
            raise _fetch_failed(param, "its URL is not valid") from error
        except TimeoutError as error:
            raise _fetch_failed(param, "the download timed out") from error
        except aiohttp.ClientConnectorError as error:
            raise _fetch_failed(param, "its server could not be reached") from error
        except aiohttp.ClientError as error:
            raise _fetch_failed(param, "the download failed") from error
        raise _fetch_failed(param, f"more than {MAX_REDIRECTS} redirects")

    async def _read_image(self, response: aiohttp.ClientResponse, param: str) -> tuple[str, str]:
        if response.status != 200:
            raise _fetch_failed(param, f"HTTP {response.status}")
        media_type = response.content_type
        if not media_type.startswith("image/"):
            raise _fetch_failed(param, f"it is `{media_type}`, not an image")
        declared = response.content_length
        if declared is not None and declared > self._max_bytes:
            raise _too_large(param, self._max_bytes)
        data = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
            data.extend(chunk)
            if len(data) > self._max_bytes:
                raise _too_large(param, self._max_bytes)
        return media_type, base64.b64encode(bytes(data)).decode()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(resolver=self._resolver, limit=100, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session


async def inline_image_urls(body: dict[str, Any], fetcher: MediaFetcher) -> dict[str, Any]:
    """Return `body` with every https image replaced by a data URL of its bytes; unchanged when there is none."""
    targets = [
        (index, position, part["image_url"]["url"])
        for index, message in enumerate(body.get("messages") or ())
        if isinstance(message.get("content"), list)
        for position, part in enumerate(message["content"])
        if part.get("type") == "image_url" and not str(part["image_url"].get("url", "")).startswith("data:")
    ]
    if not targets:
        return body

    messages = list(body["messages"])
    for index, position, url in targets:
        # One at a time: a request names few images, and the first failure ends it.
        media_type, data = await fetcher.fetch_image(url, f"messages[{index}].content[{position}].image_url.url")
        message = dict(messages[index])
        content = list(message["content"])
        part = dict(content[position])
        part["image_url"] = {**part["image_url"], "url": f"data:{media_type};base64,{data}"}
        content[position] = part
        message["content"] = content
        messages[index] = message
    return {**body, "messages": messages}


def _fetch_failed(param: str, reason: str) -> RequestRejected:
    return RequestRejected(f"Could not fetch the image at `{param}`: {reason}.", param=param)


def _too_large(param: str, limit: int) -> RequestRejected:
    return RequestRejected(
        f"The image at `{param}` is larger than the gateway's limit of {limit} bytes (`GATEWAY_MEDIA_MAX_BYTES`).",
        code="payload_too_large",
        param=param,
    )
