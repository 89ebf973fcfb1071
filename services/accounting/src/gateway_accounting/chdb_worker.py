"""The process that owns accounting's chdb session: `python -m gateway_accounting.chdb_worker PATH`.

chdb loads ClickHouse's whole engine, a 550 MB library, into the process
that imports it, and a fresh session alone made accounting's resident
memory grow from 55 MiB to 360 MiB on the development machine. Accounting therefore starts this
worker as a child process and sends it queries over its standard input,
so that the engine's memory is counted here and not in the service.

Frames in both directions are a 4-byte big-endian length followed by a
msgpack array. A request is `[sql, format, parameters]` and a response
`[ok, payload]`: the result bytes in `format`, or the error message. The
first response, sent once the session is open, has an empty payload. The
worker exits at the end of its input, so it ends with accounting, and
also when accounting dies, through the parent-death signal on Linux.

After a second without requests the worker runs `SYSTEM JEMALLOC PURGE`,
which returns the allocator's free pages to the system: after 100,000
usage rows it took the worker from 447 MiB to 354 MiB resident, in about
5 ms. Dropping the mark and uncompressed caches saved 17 MiB, and about
250 MiB are the pages of the engine's library that the process has run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import select
import signal
import struct
import sys
import time
from typing import Any, BinaryIO

import msgspec

# Seconds to keep trying to open the data directory: the worker of an
# accounting process that just died may still hold it for its last query.
_OPEN_TIMEOUT_SECONDS = 60.0
_OPEN_RETRY_SECONDS = 0.2
# Seconds without a request after which the worker returns free memory to the system.
_PURGE_AFTER_IDLE_SECONDS = 1.0
_LENGTH = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1

logger = logging.getLogger("gateway_accounting.chdb_worker")


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> bytes | None:
    """Read one frame, or return None at the end of the stream."""
    header = _read_exactly(stream, _LENGTH.size)
    if header is None:
        return None
    (length,) = _LENGTH.unpack(header)
    return _read_exactly(stream, length)


def encode_frame(message: Any) -> bytes:
    payload = msgspec.msgpack.encode(message)
    return _LENGTH.pack(len(payload)) + payload


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    # The parent may have died before prctl took effect, and then init adopted this process.
    if os.getppid() == 1:
        sys.exit(0)


def _open_session(path: str) -> Any:
    from chdb import session

    deadline = time.monotonic() + _OPEN_TIMEOUT_SECONDS
    while True:
        try:
            return session.Session(path)
        except RuntimeError:
            # chdb gives no reason when another process has the directory open.
            if time.monotonic() >= deadline:
                raise
            time.sleep(_OPEN_RETRY_SECONDS)


def _serve(chdb_session: Any, requests: BinaryIO, responses: BinaryIO) -> None:
    purge_enabled, purge_pending = True, False
    while True:
        if purge_pending and not select.select([requests], [], [], _PURGE_AFTER_IDLE_SECONDS)[0]:
            try:
                chdb_session.query("SYSTEM JEMALLOC PURGE")
            except Exception as error:  # a build without jemalloc: keep serving
                logger.warning("SYSTEM JEMALLOC PURGE failed, so the worker stops purging: %s", error)
                purge_enabled = False
            purge_pending = False
            continue

        frame = read_frame(requests)
        if frame is None:
            return
        sql, output_format, parameters = msgspec.msgpack.decode(frame)
        try:
            result = chdb_session.query(sql, output_format, params=parameters or {})
            response = [True, result.bytes() or b""]
        except Exception as error:  # every query error goes back to accounting, which raises it
            response = [False, str(error)]
        responses.write(encode_frame(response))
        responses.flush()
        purge_pending = purge_enabled


def main(path: str) -> None:
    _die_with_parent()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    # Responses go to a copy of the original standard output, and anything
    # the engine prints goes to standard error instead of into a frame.
    responses = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # Unbuffered, so that `select` reports every byte that has not been read.
    requests = os.fdopen(0, "rb", buffering=0)

    try:
        chdb_session = _open_session(path)
    except RuntimeError as error:
        responses.write(encode_frame([False, f"Opening chdb at {path} failed: {error}"]))
        responses.flush()
        sys.exit(1)
    responses.write(encode_frame([True, b""]))
    responses.flush()

    try:
        _serve(chdb_session, requests, responses)
    finally:
        chdb_session.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m gateway_accounting.chdb_worker PATH")
    main(sys.argv[1])
