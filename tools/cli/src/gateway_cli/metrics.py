"""`GET /metrics` on the metrics port of one service process.

It serves prometheus-client's default registry, where every service
registers its metrics, in the text format that the scrape's `Accept` header
requests. The exposition is rendered on a worker thread so that a scrape does
not hold up the service's event loop.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder


async def metrics_handler(request: web.Request) -> web.Response:
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = await asyncio.to_thread(encoder, REGISTRY)
    return web.Response(body=body, headers={"Content-Type": content_type})
