"""Provisioning of the streams and buckets in `bus`, and a typed KV mirror.

Needs the `nats` extra: `pip install gateway-contracts[nats]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, ObjectStoreConfig, StorageType, StreamConfig
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from nats.js.object_store import ObjectStore
from pydantic import BaseModel, ValidationError

from gateway_contracts.bus import PAYLOAD_OBJECT_STORE, PAYLOAD_TTL_SECONDS, BucketSpec, StreamSpec

logger = logging.getLogger("gateway_contracts.kv")

Record = TypeVar("Record", bound=BaseModel)


async def ensure_stream(js: JetStreamContext, spec: StreamSpec, replicas: int = 1) -> None:
    """Create the stream of `spec`, or update its subjects, limits and replicas when it exists."""
    config = StreamConfig(
        name=spec.name,
        subjects=list(spec.subjects),
        storage=StorageType.FILE,
        max_age=float(spec.max_age_seconds),
        max_bytes=spec.max_bytes,
        duplicate_window=float(spec.duplicate_window_seconds),
        num_replicas=replicas,
    )
    try:
        await js.stream_info(spec.name)
    except NotFoundError:
        await js.add_stream(config)
        return
    await js.update_stream(config)


async def ensure_bucket(js: JetStreamContext, spec: BucketSpec, replicas: int = 1) -> KeyValue:
    """Open the bucket of `spec` with `replicas` copies, creating it when it does not exist yet."""
    try:
        bucket = await js.key_value(spec.name)
    except BucketNotFoundError:
        config = KeyValueConfig(
            bucket=spec.name,
            history=spec.history,
            replicas=replicas,
            ttl=float(spec.ttl_seconds) if spec.ttl_seconds is not None else None,
        )
        return await js.create_key_value(config)
    await _match_replicas(js, f"KV_{spec.name}", replicas)
    return bucket


async def ensure_payload_store(js: JetStreamContext, replicas: int = 1) -> ObjectStore:
    """Open the object store for oversized request bodies with `replicas` copies, creating it when missing."""
    try:
        store = await js.object_store(PAYLOAD_OBJECT_STORE)
    except BucketNotFoundError:
        config = ObjectStoreConfig(ttl=float(PAYLOAD_TTL_SECONDS), replicas=replicas)
        return await js.create_object_store(PAYLOAD_OBJECT_STORE, config)
    await _match_replicas(js, f"OBJ_{PAYLOAD_OBJECT_STORE}", replicas)
    return store


async def _match_replicas(js: JetStreamContext, stream: str, replicas: int) -> None:
    """Change the replica count of the stream behind an existing bucket, as moving to a cluster needs."""
    info = await js.stream_info(stream)
    if info.config.num_replicas == replicas:
        return
    await js.update_stream(dataclasses.replace(info.config, num_replicas=replicas))
    logger.info("Stream %s now has %d replicas (was %s)", stream, replicas, info.config.num_replicas)


class BucketMirror(Generic[Record]):
    """An in-memory copy of a KV bucket, kept current by a watch.

    Readers look records up without a network round trip. A value that does
    not validate as `model` is logged and left out, so one bad write cannot
    stop every reader. `on_change`, when given, is called with the key after
    each update.
    """

    def __init__(
        self,
        bucket: KeyValue,
        model: type[Record],
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.records: dict[str, Record] = {}
        self._bucket = bucket
        self._model = model
        self._on_change = on_change
        self._task: asyncio.Task[None] | None = None
        self._loaded = asyncio.Event()

    async def start(self) -> None:
        """Start watching and return once the bucket's current values are loaded."""
        watcher = await self._bucket.watchall()
        self._task = asyncio.create_task(self._follow(watcher), name=f"kv-mirror-{self._model.__name__}")
        await self._loaded.wait()

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    def get(self, key: str) -> Record | None:
        return self.records.get(key)

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        try:
            async for entry in watcher:
                # The watcher yields None once the initial values are delivered.
                if entry is None:
                    self._loaded.set()
                    continue
                self._apply(entry)
        finally:
            with contextlib.suppress(nats.errors.ConnectionClosedError):
                await watcher.stop()

    def _apply(self, entry: KeyValue.Entry) -> None:
        if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
            self.records.pop(entry.key, None)
        else:
            try:
                self.records[entry.key] = self._model.model_validate_json(entry.value)
            except ValidationError:
                logger.error(
                    "Ignored invalid %s in bucket %s under key %s",
                    self._model.__name__,
                    entry.bucket,
                    entry.key,
                    exc_info=True,
                )
                return
        if self._on_change is not None:
            self._on_change(entry.key)
