"""Careless and hostile clients, oversized replies and local-run safety."""

from __future__ import annotations

import socket
import time

import httpx
import openai
import pytest

from tests.accounting_helpers import create_project
from tests.conftest import RunningStack
from tests.test_walking_system import MODEL, create_key_record, unique, wait_until


def admin_headers(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.admin_token}"}


def test_partial_project_update_keeps_other_fields(stack: RunningStack) -> None:
    with stack.http() as http:
        created = http.post(
            "/admin/projects",
            json={"name": unique("patch"), "daily_budget_usd": "1.5", "timezone": "Europe/Paris"},
            headers=admin_headers(stack),
        ).json()

        patched = http.patch(
            f"/admin/projects/{created['id']}", json={"timezone": "Asia/Tokyo"}, headers=admin_headers(stack)
        )

    assert patched.status_code == 200, patched.text
    assert patched.json()["timezone"] == "Asia/Tokyo"
    assert patched.json()["daily_budget_usd"] == "1.5"
    assert patched.json()["name"] == created["name"]


def test_unknown_timezone_names_the_field(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post(
            "/admin/projects", json={"name": unique("tz"), "timezone": "Mars/Olympus"}, headers=admin_headers(stack)
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "timezone"


def test_control_characters_in_a_name_are_rejected(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post("/admin/projects", json={"name": "bad\u0000name"}, headers=admin_headers(stack))

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "name"


def test_string_for_boolean_is_rejected(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": "yes"},
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "stream"


def test_trailing_slash_is_a_json_404(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.get("/v1/usage/", headers={"Authorization": f"Bearer {stack.api_key}"})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("stream", [False, True])
def test_success_status_with_error_body_is_an_error(stack: RunningStack, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        response = stack.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "#emulate error=200"}], stream=stream
        )
        if stream:
            list(response)

    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_error"


def test_reply_larger_than_a_nats_message(stack: RunningStack) -> None:
    completion = stack.client().chat.completions.create(
        model=MODEL, n=64, messages=[{"role": "user", "content": f"{unique('bigreply')}\n#emulate words=20000"}]
    )

    assert len(completion.choices) == 64
    assert len(completion.choices[63].message.content.split()) == 20000


def unlimited_model(stack: RunningStack) -> str:
    """Add a model without a known context window, which takes prompts of any length."""
    from tests.test_catalog import add_custom_model

    return str(add_custom_model(stack, ["text", "streaming"], context_window=None)["id"])


def test_stream_chunk_larger_than_a_nats_message(stack: RunningStack) -> None:
    word = "x" * (9 * 1024 * 1024)

    chunks = stack.client().chat.completions.create(
        model=unlimited_model(stack), messages=[{"role": "user", "content": f"#emulate reply={word}"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)

    assert text == word


def test_slow_client_is_cut_off_and_upstream_released(stack: RunningStack) -> None:
    marker = unique("slowreader")
    body = (
        f'{{"model": "{MODEL}", "stream": true, "messages": [{{"role": "user", '
        f'"content": "{marker}\\n#emulate words=400 word_bytes=200000"}}]}}'
    ).encode()
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {stack.api_key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    port = int(stack.base_url.rsplit(":", 1)[1])

    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.connect(("127.0.0.1", port))
        client.sendall(request)
        [received] = wait_until(lambda: stack.received_with(marker), timeout=60)
        disconnects = wait_until(
            lambda: [record for record in stack.emulator_disconnects() if record["seq"] == received["seq"]], timeout=60
        )

    # 400 chunks of 200 kB would be 80 MB; the test stack's edge holds at most 8 MiB for a slow reader.
    assert disconnects[0]["chunks_sent"] < 400


def test_nats_rejects_connections_without_the_token(stack: RunningStack) -> None:
    port = int(stack.nats_url.rsplit(":", 1)[1])

    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        info = connection.recv(4096)
        connection.sendall(b'CONNECT {"verbose": false, "pedantic": false}\r\nPING\r\n')
        reply = connection.recv(4096)

    assert info.startswith(b"INFO ")
    assert b'"auth_required":true' in info
    assert reply.startswith(b"-ERR 'Authorization Violation'")


def test_upstream_failures_are_logged_without_content(stack: RunningStack) -> None:
    marker = unique("secret-content")
    with pytest.raises(openai.RateLimitError):
        stack.client().chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"{marker}\n#emulate error=429"}]
        )

    router_log = stack.log_dir / "router.log"
    wait_until(lambda: "rate_limited" in router_log.read_text(), timeout=5)
    time.sleep(0.5)
    for log in stack.log_dir.glob("*.log"):
        assert marker not in log.read_text(errors="replace"), log.name
        assert stack.api_key not in log.read_text(errors="replace"), log.name


def test_key_of_other_project_sees_only_its_usage(stack: RunningStack) -> None:
    record = create_key_record(stack)
    stack.client().chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "mine"}])

    response = httpx.get(f"{stack.base_url}/v1/usage", headers={"Authorization": f"Bearer {record['key']}"}, timeout=10)

    assert response.json()["data"] == []


def test_nul_character_in_a_session_message_is_kept(stack: RunningStack) -> None:
    session = unique("nul")
    client = stack.client()
    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"a\u0000b {session}"}], extra_body={"session_id": session}
    )

    client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"next {session}"}], extra_body={"session_id": session}
    )

    [received] = stack.received_with(f"next {session}")
    assert received["body"]["messages"][0] == {"role": "user", "content": f"a\u0000b {session}"}
    assert len(received["body"]["messages"]) == 3


def test_session_message_larger_than_an_event_is_noted(stack: RunningStack) -> None:
    session = unique("hugetext")
    model = unlimited_model(stack)
    client = stack.client()
    client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"{session} " + "a " * 4_500_000}],
        extra_body={"session_id": session},
    )

    client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"after {session}"}], extra_body={"session_id": session}
    )

    [received] = stack.received_with(f"after {session}")
    first = received["body"]["messages"][0]["content"]
    assert first.startswith("[A text of ") and first.endswith("bytes was too large to keep in the session.]")
    assert len(received["body"]["messages"]) == 3


@pytest.mark.parametrize(
    "path", ["/v1/sessions/%00", "/v1/sessions/a%00b/export", "/v1/sessions?after=%00", "/v1/models/x%0Ay"]
)
def test_control_characters_in_path_are_rejected(stack: RunningStack, path: str) -> None:
    with stack.http() as http:
        response = http.get(path, headers={"Authorization": f"Bearer {stack.api_key}"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.headers["x-request-id"].startswith("req_")


def test_control_characters_in_admin_path_are_rejected(stack: RunningStack) -> None:
    with stack.http() as http:
        response = http.get("/admin/projects/%00", headers=admin_headers(stack))

    assert response.status_code == 400


@pytest.mark.parametrize("timezone", ["localtime", "posixrules", "Not/AZone", "UTC\u0000"])
def test_timezones_postgres_cannot_use_are_rejected(stack: RunningStack, timezone: str) -> None:
    with stack.http() as http:
        response = http.post(
            "/admin/projects", json={"name": unique("tz"), "timezone": timezone}, headers=admin_headers(stack)
        )

    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == "timezone"


@pytest.mark.parametrize(
    "url", ["http://example.com/cat.png", "file:///etc/passwd", "ftp://example.com/cat.png", "gopher://x"]
)
def test_image_urls_other_than_https_or_data_are_rejected(stack: RunningStack, url: str) -> None:
    marker = unique("scheme")
    with stack.http() as http:
        response = http.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "text", "text": marker}, {"type": "image_url", "image_url": {"url": url}}],
                    }
                ],
            },
            headers={"Authorization": f"Bearer {stack.api_key}"},
        )

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "messages[0].content[1].image_url.url"
    assert stack.received_with(marker) == []


@pytest.mark.parametrize(
    "url", ["https://127.0.0.1/cat.png", "https://169.254.169.254/latest/meta-data", "https://10.0.0.7/cat.png"]
)
def test_self_hosted_model_never_gets_internal_image_urls(stack: RunningStack, url: str) -> None:
    from tests.test_catalog import add_custom_model

    model = add_custom_model(stack, ["text", "vision", "streaming"])
    marker = unique("ssrf")

    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().chat.completions.create(
            model=model["id"],
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "text", "text": marker}, {"type": "image_url", "image_url": {"url": url}}],
                }
            ],
        )

    assert "private, loopback or link-local" in caught.value.message
    assert stack.received_with(marker) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [("start=2026-03-02&end=2026-03-01", "is after `end`"), ("start=2024-01-01&end=2026-03-01", "more than 366 days")],
)
def test_reversed_or_long_day_ranges_are_rejected(stack: RunningStack, query: str, message: str) -> None:
    with stack.http() as http:
        usage = http.get(f"/v1/usage?{query}", headers={"Authorization": f"Bearer {stack.api_key}"})
        reconcile = http.get(f"/admin/projects/prj_any/reconcile?{query}", headers=admin_headers(stack))

    for response in (usage, reconcile):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "start"
        assert message in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "param"),
    [
        ("PATCH", "", {"disabled": "yes"}, "disabled"),
        ("PATCH", "", {"disabled": 1}, "disabled"),
        ("PUT", "/session-retention", {"days": "30"}, "days"),
    ],
)
def test_admin_rejects_values_as_strings(stack: RunningStack, method: str, suffix: str, body: dict, param: str) -> None:
    path = f"/admin/projects/{create_project(stack)['id']}"

    with stack.http() as http:
        response = http.request(method, f"{path}{suffix}", json=body, headers=admin_headers(stack))
        after = http.get(path, headers=admin_headers(stack))

    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
    assert after.json()["disabled"] is False
