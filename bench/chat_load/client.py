"""The load generator: HTTP/1.1 keep-alive requests on uvloop, responses parsed by httptools.

Why not aiohttp's client or autocannon: the client shares the machine's two
cores with what it measures, so every microsecond it spends is taken from the
target. On the 2-core machine of bench/RESULTS.md, 20,000 non-streaming
requests at concurrency 50 against the provider emulator cost this client
18-23 µs of CPU each. aiohttp 3.14's client on uvloop cost 95-121 µs, and
autocannon 9.0.0 on Node.js 20 about 50 µs with its start-up included.

Run as `python -m chat_load.client`: it reads one `LoadSpec` as JSON on stdin
and writes one `LoadResult` as JSON on stdout, so that its CPU time is its own.
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import httptools
import orjson


@dataclass(frozen=True, slots=True)
class LoadSpec:
    url: str
    headers: dict[str, str]
    body: str
    stream: bool
    # Closed loop: the number of connections, each sending its next request
    # when the previous one finished. Open loop: the most connections open at once.
    concurrency: int
    requests: int
    # Requests per second for an open loop, None for a closed loop.
    rate: float | None = None
    # Seconds after which no new request starts.
    time_limit: float = 120.0
    # Seconds that requests still in flight get after the time limit before
    # their connections are closed and they count as timed out.
    grace: float = 10.0


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    mean: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles | None:
        if not values:
            return None
        ordered = sorted(values)
        return cls(
            p50=_nearest_rank(ordered, 50),
            p95=_nearest_rank(ordered, 95),
            p99=_nearest_rank(ordered, 99),
            mean=sum(ordered) / len(ordered),
            max=ordered[-1],
        )


@dataclass(slots=True)
class LoadResult:
    sent: int
    ok: int
    # Failed requests by kind, for example "status 503", "timed out", "connection lost".
    errors: dict[str, int]
    elapsed_seconds: float
    # Latency in milliseconds from the moment the request was due (open loop)
    # or sent (closed loop) to the end of the response.
    latency_ms: Percentiles | None
    # Milliseconds to the first byte of a streamed body.
    first_chunk_ms: Percentiles | None
    client_cpu_seconds: float
    stopped_by_time_limit: bool

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


def _nearest_rank(ordered: list[float], percent: float) -> float:
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class _Exchange:
    """One request on one connection, filled in by the parser callbacks."""

    due_at: float
    done: asyncio.Future[None]
    status: int = 0
    first_body_at: float | None = None
    body: list[bytes] = field(default_factory=list)
    finished_at: float = 0.0
    error: str | None = None


class _Connection(asyncio.Protocol):
    """A keep-alive connection that carries one exchange at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._exchange: _Exchange | None = None
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # a TCP transport is an asyncio.Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.reusable = False
        self._fail("connection lost")

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("invalid HTTP response")
            self.abort()

    def send(self, request: bytes, exchange: _Exchange) -> None:
        assert self._transport is not None
        self._exchange = exchange
        self._transport.write(request)

    def abort(self, reason: str | None = None) -> None:
        if reason is not None:
            self._fail(reason)
        self.reusable = False
        if self._transport is not None:
            self._transport.abort()

    def on_headers_complete(self) -> None:
        if self._exchange is not None:
            self._exchange.status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        exchange = self._exchange
        if exchange is None:
            return
        if exchange.first_body_at is None:
            exchange.first_body_at = time.perf_counter()
        exchange.body.append(body)

    def on_message_complete(self) -> None:
        exchange = self._exchange
        self._exchange = None
        if not self._parser.should_keep_alive():
            self.reusable = False
        if exchange is not None and not exchange.done.done():
            exchange.finished_at = time.perf_counter()
            exchange.done.set_result(None)

    def _fail(self, reason: str) -> None:
        exchange = self._exchange
        self._exchange = None
        if exchange is not None and not exchange.done.done():
            exchange.error = reason
            exchange.done.set_result(None)


class _Run:
    """The state of one load run: its connections, the request bytes and the tallies."""

    def __init__(self, spec: LoadSpec) -> None:
        parts = urlsplit(spec.url)
        if parts.scheme != "http" or parts.hostname is None:
            raise SystemExit(f"Unsupported URL {spec.url!r}: the load generator speaks plain http:// only.")
        self.spec = spec
        self.host = parts.hostname
        self.port = parts.port or 80
        self.request = _request_bytes(spec, parts)
        self.connections: set[_Connection] = set()
        self.latencies: list[float] = []
        self.first_chunks: list[float] = []
        self.errors: dict[str, int] = {}
        self.sent = 0
        self.ok = 0
        self.aborted = False

    async def connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _transport, connection = await loop.create_connection(_Connection, self.host, self.port)
        self.connections.add(connection)
        return connection

    async def exchange(self, connection: _Connection, due_at: float) -> None:
        """Send one request on `connection` and tally its outcome."""
        exchange = _Exchange(due_at=due_at, done=asyncio.get_running_loop().create_future())
        self.sent += 1
        connection.send(self.request, exchange)
        await exchange.done
        self._tally(exchange)

    def abort_all(self) -> None:
        self.aborted = True
        for connection in self.connections:
            connection.abort("timed out")

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def count_connect_failure(self, error: OSError) -> None:
        self.sent += 1
        # asyncio puts the address into `strerror`; the errno names the cause alone.
        reason = os.strerror(error.errno) if error.errno else type(error).__name__
        self.count_error(f"connect failed: {reason}")

    def _tally(self, exchange: _Exchange) -> None:
        if exchange.error is not None:
            self.count_error(exchange.error)
            return
        if exchange.status != 200:
            self.count_error(f"status {exchange.status}")
            return
        if not _complete_body(exchange.body, self.spec.stream):
            self.count_error("incomplete body")
            return
        self.ok += 1
        self.latencies.append((exchange.finished_at - exchange.due_at) * 1000)
        if self.spec.stream and exchange.first_body_at is not None:
            self.first_chunks.append((exchange.first_body_at - exchange.due_at) * 1000)


def _request_bytes(spec: LoadSpec, parts) -> bytes:
    body = spec.body.encode()
    host = parts.netloc
    lines = [f"POST {parts.path or '/'} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    headers = {"Content-Type": "application/json", **spec.headers}
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _complete_body(chunks: list[bytes], stream: bool) -> bool:
    """A stream must end with OpenAI's `data: [DONE]`; a completion must carry `choices`."""
    body = b"".join(chunks)
    if stream:
        return body.rstrip().endswith(b"data: [DONE]")
    return b'"choices"' in body


async def _closed_loop(run: _Run) -> None:
    spec = run.spec
    deadline = time.perf_counter() + spec.time_limit
    remaining = spec.requests

    async def worker() -> None:
        nonlocal remaining
        connection: _Connection | None = None
        while remaining > 0 and time.perf_counter() < deadline and not run.aborted:
            remaining -= 1
            if connection is None or not connection.reusable:
                try:
                    connection = await run.connect()
                except OSError as error:
                    run.count_connect_failure(error)
                    await asyncio.sleep(0.01)
                    continue
            await run.exchange(connection, time.perf_counter())

    workers = [asyncio.ensure_future(worker()) for _ in range(spec.concurrency)]
    await _wait_or_abort(run, workers, deadline)


async def _open_loop(run: _Run) -> None:
    spec = run.spec
    assert spec.rate is not None
    start = time.perf_counter()
    deadline = start + spec.time_limit
    interval = 1.0 / spec.rate
    idle: list[_Connection] = []
    slots = asyncio.Semaphore(spec.concurrency)

    async def one(due_at: float) -> None:
        async with slots:
            if run.aborted:
                return
            while idle and not idle[-1].reusable:
                idle.pop()
            if idle:
                connection = idle.pop()
            else:
                try:
                    connection = await run.connect()
                except OSError as error:
                    run.count_connect_failure(error)
                    return
            await run.exchange(connection, due_at)
            if connection.reusable:
                idle.append(connection)

    tasks: list[asyncio.Future[None]] = []
    for index in range(spec.requests):
        due_at = start + index * interval
        if due_at >= deadline:
            break
        delay = due_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due_at)))
    await _wait_or_abort(run, tasks, deadline)

    # Requests still waiting for a connection when the run ended were due but
    # never sent. They count as errors, because the target was too slow for the rate.
    unsent = len(tasks) - run.sent
    if unsent:
        run.errors["not sent: no free connection in time"] = unsent


async def _wait_or_abort(run: _Run, tasks: list[asyncio.Future[None]], deadline: float) -> None:
    """Wait for `tasks` until the deadline plus a grace period, then fail what is still in flight."""
    timeout = max(deadline - time.perf_counter(), 0.0) + run.spec.grace
    _done, pending = await asyncio.wait(tasks, timeout=timeout)
    if pending:
        run.abort_all()
        await asyncio.wait(pending, timeout=5)
        for task in pending:
            task.cancel()


async def run_load(spec: LoadSpec) -> LoadResult:
    """Send `spec.requests` requests and measure them; stop starting new ones at the time limit."""
    run = _Run(spec)
    cpu_before = time.process_time()
    started = time.perf_counter()
    try:
        if spec.rate is None:
            await _closed_loop(run)
        else:
            await _open_loop(run)
    finally:
        for connection in run.connections:
            connection.abort()
    elapsed = time.perf_counter() - started
    return LoadResult(
        sent=run.sent,
        ok=run.ok,
        errors=run.errors,
        elapsed_seconds=elapsed,
        latency_ms=Percentiles.of(run.latencies),
        first_chunk_ms=Percentiles.of(run.first_chunks),
        client_cpu_seconds=time.process_time() - cpu_before,
        stopped_by_time_limit=run.sent < spec.requests or run.aborted,
    )


def result_from_json(data: dict) -> LoadResult:
    latency = data["latency_ms"]
    first_chunk = data["first_chunk_ms"]
    return LoadResult(
        **{
            **data,
            "latency_ms": Percentiles(**latency) if latency else None,
            "first_chunk_ms": Percentiles(**first_chunk) if first_chunk else None,
        }
    )


def main() -> None:
    spec = LoadSpec(**orjson.loads(sys.stdin.buffer.read()))
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run_load(spec))
    else:
        result = uvloop.run(run_load(spec))
    sys.stdout.buffer.write(orjson.dumps(asdict(result)))


if __name__ == "__main__":
    main()
