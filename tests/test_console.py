"""The web console end to end: headless Chromium signs in, chats, reads the dashboard and changes keys and budgets.

The walk itself is `services/console/tests/e2e/run.mjs`, driven by the npm
package playwright-core with Debian's chromium. This test builds the console
once, serves it against the test stack's edge, runs the walk and checks what
it changed through the API. The walk leaves a screenshot of every page in
`services/console/screenshots/`.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_cli.console import ConsoleConfig, ConsoleUnavailable, LocalConsole, check_tools
from tests.accounting_helpers import admin, create_key, create_project
from tests.conftest import RunningStack, free_port
from tests.test_walking_system import unique, wait_until

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "services" / "console"
SCREENSHOT_DIR = CONSOLE_DIR / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
# A reasoning model that the emulator streams reasoning for, with prices, so that each turn costs something.
CHAT_MODEL = "anthropic/claude-haiku-4-5"
WALK_TIMEOUT = 240


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"Debian's chromium is not installed at {CHROMIUM}; `apt-get install chromium` enables the console tests"
    try:
        check_tools(CONSOLE_DIR)
    except ConsoleUnavailable as error:
        return str(error)
    if not (CONSOLE_DIR / "node_modules" / "playwright-core").is_dir():
        return f"the console's npm packages are not installed; run `npm ci` in {CONSOLE_DIR} (`make test` does)"
    return None


@pytest.fixture(scope="module")
def console_url(stack: RunningStack) -> Iterator[str]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    web = LocalConsole(ConsoleConfig(directory=CONSOLE_DIR, port=free_port()), stack.base_url, stack.log_dir)
    try:
        stack.loop.run(web.prepare(), timeout=660)
        stack.loop.run(web.start())
    except ConsoleUnavailable as error:
        stack.loop.run(web.stop())
        pytest.fail(str(error))
    yield web.config.url
    stack.loop.run(web.stop())


def _walk(stack: RunningStack, console_url: str, project_id: str, api_key: str) -> dict[str, Any]:
    env = {
        **os.environ,
        "CONSOLE_URL": console_url,
        "GATEWAY_ADMIN_TOKEN": stack.admin_token,
        "GATEWAY_API_KEY": api_key,
        "PROJECT_ID": project_id,
        "SCREENSHOT_DIR": str(SCREENSHOT_DIR),
        "CHROMIUM_PATH": str(CHROMIUM),
        "CHAT_MODEL": CHAT_MODEL,
    }
    walk = subprocess.run(
        ["node", "tests/e2e/run.mjs"],
        cwd=CONSOLE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=WALK_TIMEOUT,
    )
    assert walk.returncode == 0, f"the console walk failed:\n{walk.stderr[-4000:]}\n{walk.stdout[-2000:]}"
    return json.loads(walk.stdout.strip().splitlines()[-1])


def test_console_walk_through_every_page(stack: RunningStack, console_url: str) -> None:
    project = create_project(stack, daily_budget_usd="5")
    key = create_key(stack, project["id"])

    changes = _walk(stack, console_url, project["id"], key["key"])

    with admin(stack) as http:
        keys = http.get(f"/admin/projects/{project['id']}/keys").json()["data"]
        updated = http.get(f"/admin/projects/{project['id']}").json()
    revoked = next(item for item in keys if item["id"] == changes["keyId"])
    assert revoked["revoked_at"] is not None
    assert Decimal(updated["daily_budget_usd"]) == Decimal(changes["cap"])

    as_project = {"Authorization": f"Bearer {key['key']}"}
    with httpx.Client(base_url=stack.base_url, timeout=30, headers=as_project) as http:
        recent = http.get("/v1/requests").json()["data"]
        session = http.get(f"/v1/sessions/{changes['sessionId']}").json()
    chat = next(row for row in recent if row["request_id"] == changes["requestId"])
    assert chat["cost_usd"] == changes["cost"]
    assert chat["model"] == CHAT_MODEL
    assert chat["tokens"]["reasoning_tokens"] > 0
    assert session["branch_count"] == 2


def test_console_forwards_only_the_apis(console_url: str) -> None:
    with httpx.Client(base_url=console_url, timeout=30) as http:
        metrics = http.get("/edge/metrics")
        models = http.get("/edge/v1/models")

    assert metrics.status_code == 404
    assert metrics.json()["error"]["code"] == "not_found"
    assert models.status_code == 401
    assert models.json()["error"]["code"] == "missing_api_key"


def test_console_without_edge_names_the_address(stack: RunningStack, console_url: str) -> None:
    missing_edge = f"http://127.0.0.1:{free_port()}"
    web = LocalConsole(ConsoleConfig(directory=CONSOLE_DIR, port=free_port()), missing_edge, stack.log_dir)
    stack.loop.run(web.start())
    try:
        response = httpx.get(f"{web.config.url}/edge/v1/models", timeout=30)
    finally:
        stack.loop.run(web.stop())

    assert response.status_code == 502
    assert response.json()["error"] == {
        "message": f"The console could not reach the edge at {missing_edge}; check GATEWAY_EDGE_URL.",
        "type": "api_error",
        "param": None,
        "code": "edge_unreachable",
    }


def test_console_disconnect_cancels_model_call(stack: RunningStack, console_url: str) -> None:
    marker = unique("console-disconnect")
    body = {
        "model": "openai/gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": f"{marker}\n#emulate words=200 delay_ms=50"}],
    }
    headers = {"Authorization": f"Bearer {stack.api_key}"}

    with httpx.Client(base_url=console_url, timeout=30) as http:
        with http.stream("POST", "/edge/v1/chat/completions", json=body, headers=headers) as response:
            assert response.status_code == 200
            next(response.iter_lines())
    [received] = wait_until(lambda: stack.received_with(marker), timeout=30)
    disconnects = wait_until(
        lambda: [record for record in stack.emulator_disconnects() if record["seq"] == received["seq"]], timeout=30
    )

    # 200 chunks 50 ms apart take 10 s; the browser left after the first one.
    assert disconnects[0]["chunks_sent"] < 200


def test_console_pages_served(console_url: str) -> None:
    with httpx.Client(base_url=console_url, timeout=30) as http:
        for page in ("/signin", "/dashboard", "/playground", "/models", "/admin"):
            response = http.get(page)
            assert response.status_code == 200, page
            assert "Generative Gateway" in response.text, page
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], page
            assert response.headers["x-frame-options"] == "DENY", page
            assert response.headers["referrer-policy"] == "no-referrer", page
