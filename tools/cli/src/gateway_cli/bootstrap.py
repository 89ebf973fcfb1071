"""`gateway bootstrap`: the first project, API key and admin token of an installation.

`gateway up` does this by itself. A deployment runs it once by hand, in any
container that has the `gateway` command and reaches NATS, for example
`docker compose exec accounting gateway bootstrap`. The secrets are printed
only by the call that creates them.
"""

from __future__ import annotations

import asyncio
import os
import sys

import nats

from gateway_cli.stack import StackError, call_until_answered
from gateway_contracts import bus
from gateway_contracts.rpc import BootstrapReply, BootstrapRequest, RpcError

_DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def run_bootstrap(project: str, timeout: float) -> int:
    nats_url = os.environ.get("NATS_URL") or _DEFAULT_NATS_URL
    try:
        reply = asyncio.run(_bootstrap(nats_url, project, timeout))
    except (OSError, nats.errors.Error, StackError) as error:
        print(f"gateway bootstrap: no reply from accounting over {nats_url}: {error}", file=sys.stderr)
        return 1

    if isinstance(reply, RpcError):
        print(f"gateway bootstrap: accounting could not create the project: {reply.message}", file=sys.stderr)
        return 1
    if not reply.created:
        print(
            "gateway bootstrap: this installation already has an admin token, so no secret is shown again; "
            "create API keys with the admin API (POST /admin/projects/{id}/keys).",
            file=sys.stderr,
        )
        return 1
    print(f"Project `{project}`: {reply.project_id}")
    print(f"API key:     {reply.api_key}")
    print(f"Admin token: {reply.admin_token}")
    return 0


async def _bootstrap(nats_url: str, project: str, timeout: float) -> BootstrapReply | RpcError:
    nc = await nats.connect(nats_url, name="gateway-bootstrap", connect_timeout=min(timeout, 10))
    try:
        return await call_until_answered(
            nc, bus.ACCOUNTING_BOOTSTRAP, BootstrapRequest(project_name=project), BootstrapReply, timeout
        )
    finally:
        await nc.close()
