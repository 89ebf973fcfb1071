"""Server-side sessions end to end: history, branches, replay, isolation, deletion, retention."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import nats
import openai
import orjson
import pytest
from nats.js.errors import NotFoundError

from gateway_contracts import SessionTurn, SessionTurnsEvent, bus, event_id
from gateway_contracts.sessions import session_event_subject, turn_id
from tests.conftest import RunningStack
from tests.test_walking_system import create_key_record, unique, wait_until

MODEL = "openai/gpt-4o-mini"
OTHER_MODEL = "mistral/mistral-small-latest"


def sessions_api(stack: RunningStack, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or stack.api_key}"}
    return httpx.Client(base_url=f"{stack.base_url}/v1", headers=headers, timeout=60)


def read_session(stack: RunningStack, session: str, key: str | None = None) -> dict[str, Any]:
    with sessions_api(stack, key) as api:
        response = api.get(f"/sessions/{session}")
    assert response.status_code == 200, response.text
    return response.json()


def upstream_messages(stack: RunningStack, marker: str) -> list[list[dict[str, Any]]]:
    """The `messages` of every request the emulator received that mention `marker`, oldest first."""
    return [record["body"]["messages"] for record in stack.received_with(marker)]


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def say(client: openai.OpenAI, session: str, text: str, **extra: Any) -> str:
    completion = client.chat.completions.create(
        model=extra.pop("model", MODEL), messages=[user(text)], extra_body={"session_id": session, **extra}
    )
    return completion.choices[0].message.content or ""


def converse(client: openai.OpenAI, marker: str, session: str | None) -> None:
    """Three turns, the second one streamed: with `session`, only the newest message each time."""
    history: list[dict[str, Any]] = []
    for index, text in enumerate(["What is a gateway", "Say more", "Thanks"]):
        message = user(f"{text} {marker}")
        messages = [message] if session else [*history, message]
        extra = {"extra_body": {"session_id": session}} if session else {}
        if index == 1:
            chunks = client.chat.completions.create(model=MODEL, messages=messages, stream=True, **extra)
            text_reply = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
            reply: dict[str, Any] = {"role": "assistant", "content": text_reply}
        else:
            completion = client.chat.completions.create(model=MODEL, messages=messages, **extra)
            # What the client received, as the `openai` package parsed it.
            reply = completion.choices[0].message.model_dump(exclude_unset=True)
        history += [message, reply]


def test_three_turns_match_client_side_history(stack: RunningStack) -> None:
    client_marker, server_marker = unique("client"), unique("server")
    client = stack.client()

    converse(client, client_marker, session=None)
    converse(client, server_marker, session=unique("three"))

    client_side = upstream_messages(stack, client_marker)
    server_side = upstream_messages(stack, server_marker)
    assert len(client_side) == len(server_side) == 3
    for client_request, server_request in zip(client_side, server_side, strict=True):
        expected = orjson.loads(orjson.dumps(client_request).replace(client_marker.encode(), server_marker.encode()))
        assert server_request == expected
    assert [len(messages) for messages in server_side] == [1, 3, 5]


def test_turns_carry_ids_and_request_ids(stack: RunningStack) -> None:
    session = unique("ids")
    client = stack.client()
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user("one")], extra_body={"session_id": session}
    )
    raw.parse()

    detail = read_session(stack, session)

    assert detail["object"] == "session"
    assert detail["id"] == session
    assert detail["turn_count"] == 2
    first, reply = detail["turns"]
    assert first["parent_turn_id"] is None
    assert reply["parent_turn_id"] == first["id"]
    assert reply["id"] == raw.headers["x-session-turn-id"]
    assert first["request_id"] == reply["request_id"] == raw.headers["x-request-id"]
    assert first["role"] == "user"
    assert first["content"] == "one"
    assert reply["role"] == "assistant"
    assert reply["content"] == "Emulated reply from gpt-4o-mini: one"
    assert reply["model"] == MODEL
    assert reply["status"] == "ok"
    assert detail["head_turn_id"] == reply["id"]
    assert [branch["head_turn_id"] for branch in detail["branches"]] == [reply["id"]]


def test_branch_from_first_reply(stack: RunningStack) -> None:
    marker = unique("branch")
    session = unique("tree")
    client = stack.client()
    say(client, session, f"u1 {marker}")
    say(client, session, f"u2 {marker}")
    u1, a1, u2, a2 = read_session(stack, session)["turns"]

    say(client, session, f"u2b {marker}", parent_turn_id=a1["id"])
    say(client, session, f"u3b {marker}")
    say(client, session, f"u3 {marker}", parent_turn_id=a2["id"])

    *_, branch_request, continued, original = upstream_messages(stack, marker)
    assert branch_request == [u1["message"], a1["message"], user(f"u2b {marker}")]
    assert [message["content"] for message in continued] == [
        f"u1 {marker}",
        a1["content"],
        f"u2b {marker}",
        f"Emulated reply from gpt-4o-mini: u2b {marker}",
        f"u3b {marker}",
    ]
    assert original == [u1["message"], a1["message"], u2["message"], a2["message"], user(f"u3 {marker}")]

    detail = read_session(stack, session)
    main, side = detail["branches"]
    assert main["id"] == u1["id"]
    assert main["base_turn_id"] is None
    assert main["turn_count"] == 6
    assert side["base_turn_id"] == a1["id"]
    assert side["turn_count"] == 4
    with sessions_api(stack) as api:
        listed = api.get(f"/sessions/{session}/branches").json()["data"]
        side_read = api.get(f"/sessions/{session}/branches/{side['id']}").json()
        main_read = api.get(f"/sessions/{session}/branches/{main['id']}").json()
    assert [branch["id"] for branch in listed] == [main["id"], side["id"]]
    side_contents = [message["content"] for message in side_read["messages"]]
    assert side_contents[:3] == [f"u1 {marker}", a1["content"], f"u2b {marker}"]
    assert len(side_read["turns"]) == 6
    assert [turn["id"] for turn in main_read["turns"]][:4] == [u1["id"], a1["id"], u2["id"], a2["id"]]
    assert len(main_read["messages"]) == 6


def test_replay_makes_new_branch(stack: RunningStack) -> None:
    marker = unique("replay")
    session = unique("replayed")
    client = stack.client()
    say(client, session, f"first {marker}")
    say(client, session, f"second {marker}")
    original = read_session(stack, session)

    with sessions_api(stack) as api:
        response = api.post(f"/sessions/{session}/replay", json={"model": OTHER_MODEL})

    assert response.status_code == 201, response.text
    replay = response.json()
    assert replay["completed"] is True
    assert replay["source_turn_id"] == original["head_turn_id"]
    assert replay["branch"]["base_turn_id"] == original["turns"][0]["id"]
    assert [(turn["role"], turn["content"]) for turn in replay["turns"]] == [
        ("assistant", f"Emulated reply from mistral-small-latest: first {marker}"),
        ("user", f"second {marker}"),
        ("assistant", f"Emulated reply from mistral-small-latest: second {marker}"),
    ]
    assert {turn["model"] for turn in replay["turns"]} == {OTHER_MODEL}
    replayed = [
        record["body"] for record in stack.received_with(marker) if record["body"]["model"] == "mistral-small-latest"
    ]
    assert [body["messages"] for body in replayed] == [
        [user(f"first {marker}")],
        [user(f"first {marker}"), replay["turns"][0]["message"], user(f"second {marker}")],
    ]

    detail = read_session(stack, session)
    assert [branch["id"] for branch in detail["branches"]] == [original["branches"][0]["id"], replay["branch"]["id"]]
    assert detail["turns"][:4] == original["turns"]


def test_other_project_gets_the_same_404(stack: RunningStack) -> None:
    session = unique("private")
    say(stack.client(), session, "secret")
    owner_turn = read_session(stack, session)["turns"][0]["id"]
    intruder = create_key_record(stack)["key"]
    missing = unique("missing")

    def answer(api: httpx.Client, method: str, path: str, name: str, **kwargs: Any) -> tuple[int, dict]:
        """Return the status and error body, with the session id replaced so that two responses compare."""
        response = api.request(method, path.format(name), **kwargs)
        return response.status_code, orjson.loads(response.content.replace(name.encode(), b"ID"))

    for path, method, kwargs in [
        ("/sessions/{}", "GET", {}),
        ("/sessions/{}/export", "GET", {}),
        ("/sessions/{}/branches", "GET", {}),
        ("/sessions/{}", "DELETE", {}),
        ("/sessions/{}/replay", "POST", {"json": {"model": OTHER_MODEL}}),
    ]:
        with sessions_api(stack, intruder) as api:
            other = answer(api, method, path, session, **kwargs)
            nonexistent = answer(api, method, path, missing, **kwargs)
        assert other == nonexistent
        assert other[0] == 404
        assert other[1]["error"]["code"] == "not_found"

    with pytest.raises(openai.NotFoundError) as caught:
        stack.client(api_key=intruder).chat.completions.create(
            model=MODEL,
            messages=[user("let me in")],
            extra_body={"session_id": session, "parent_turn_id": owner_turn},
        )
    assert caught.value.code == "not_found"
    with sessions_api(stack, intruder) as api:
        assert session not in [item["id"] for item in api.get("/sessions", params={"limit": 100}).json()["data"]]
    assert read_session(stack, session)["turn_count"] == 2


def test_delete_removes_history_keeps_usage(stack: RunningStack) -> None:
    record = create_key_record(stack)
    marker = unique("forget")
    session = unique("deleted")
    client = stack.client(api_key=record["key"])
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[user(f"remember {marker}")], extra_body={"session_id": session}
    )
    request_id = raw.headers["x-request-id"]

    with sessions_api(stack, record["key"]) as api:
        deleted = api.delete(f"/sessions/{session}")
        again = api.delete(f"/sessions/{session}")
        read = api.get(f"/sessions/{session}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": session, "object": "session.deleted", "deleted": True, "deleted_turns": 2}
    assert again.status_code == 404
    assert read.status_code == 404

    say(client, session, "a new start")
    assert read_session(stack, session, record["key"])["turns"][0]["content"] == "a new start"

    wait_until(lambda: stack.loop.run(_usage_recorded(stack, request_id)))
    assert stack.loop.run(_rows_mentioning(stack, marker)) == {}
    assert stack.loop.run(_stream_mentions(stack, record["project_id"], session, marker)) is False


def test_concurrent_requests_ordered_by_completion(stack: RunningStack) -> None:
    marker = unique("race")
    session = unique("concurrent")
    client = stack.client()
    slow = threading.Thread(target=say, args=(client, session, f"slow {marker}\n#emulate first_delay_ms=800"))
    slow.start()
    time.sleep(0.2)
    say(client, session, f"fast {marker}")
    slow.join(timeout=30)

    turns = read_session(stack, session)["turns"]
    assert [turn["content"].split("\n")[0] for turn in turns if turn["role"] == "user"] == [
        f"fast {marker}",
        f"slow {marker}",
    ]
    assert [turn["parent_turn_id"] for turn in turns[1:]] == [turn["id"] for turn in turns[:-1]]
    say(client, session, f"after {marker}")
    assert len(upstream_messages(stack, marker)[-1]) == 5


def test_failed_request_stored_out_of_context(stack: RunningStack) -> None:
    marker = unique("failed")
    session = unique("failing")
    client = stack.client()
    with pytest.raises(openai.APIStatusError):
        say(client, session, f"boom {marker}\n#emulate error=500")
    say(client, session, f"retry {marker}")

    failed, retried, reply = read_session(stack, session)["turns"]
    assert (failed["status"], failed["in_context"]) == ("error", False)
    assert (retried["status"], retried["in_context"]) == ("ok", True)
    assert retried["parent_turn_id"] == failed["id"]
    assert reply["role"] == "assistant"
    assert upstream_messages(stack, marker)[-1] == [user(f"retry {marker}")]


def test_error_mid_stream_keeps_what_client_saw(stack: RunningStack) -> None:
    session = unique("midstream")
    stream = stack.client().chat.completions.create(
        model=MODEL,
        messages=[user("#emulate words=6 error_after=2")],
        stream=True,
        extra_body={"session_id": session},
    )
    with pytest.raises(openai.APIError):
        for _chunk in stream:
            pass

    asked, partial = read_session(stack, session)["turns"]
    assert partial["content"] == "word0 word1"
    assert (partial["status"], partial["in_context"]) == ("error", False)
    assert asked["status"] == "error"


def test_cancelled_stream_keeps_partial_reply(stack: RunningStack) -> None:
    marker = unique("cancel")
    session = unique("cancelled")
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        with http.stream(
            "POST",
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [user(f"{marker}\n#emulate words=100 delay_ms=100")],
                "stream": True,
                "session_id": session,
            },
            headers={"Authorization": f"Bearer {stack.api_key}"},
        ) as response:
            lines = response.iter_lines()
            while '"content":"word' not in next(lines):
                pass

    def stored() -> list[dict]:
        with sessions_api(stack) as api:
            response = api.get(f"/sessions/{session}")
        return response.json()["turns"] if response.status_code == 200 else []

    _asked, partial = wait_until(stored)
    assert partial["status"] == "cancelled"
    assert partial["in_context"] is True
    assert partial["content"].startswith("word0")
    assert len(partial["content"].split()) < 100
    say(stack.client(), session, f"go on {marker}")
    assert upstream_messages(stack, marker)[-1][1] == partial["message"]


def test_history_over_window_rejected_or_dropped(stack: RunningStack) -> None:
    marker = unique("long")
    session = unique("window")
    # About 75,000 estimated tokens each: two of them pass gpt-4o-mini's 128,000.
    filler = "lorem " * 50_000
    client = stack.client()
    say(client, session, f"{marker} first {filler}")

    with pytest.raises(openai.BadRequestError) as caught:
        say(client, session, f"{marker} second {filler}")
    error = caught.value.body
    assert caught.value.code == "context_length_exceeded"
    assert error["param"] == "messages"
    assert "128,000-token context window" in error["message"]
    assert "about 75,0" in error["message"]
    assert "estimates" in error["message"]
    assert len(upstream_messages(stack, marker)) == 1

    raw = client.chat.completions.with_raw_response.create(
        model=MODEL,
        messages=[user(f"{marker} third {filler}")],
        extra_body={"session_id": session, "session_truncation": "oldest"},
    )
    raw.parse()
    assert raw.headers["x-session-dropped-messages"] == "2"
    assert upstream_messages(stack, marker)[-1] == [user(f"{marker} third {filler}")]


def test_session_fields_need_a_session(stack: RunningStack) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stack.client().chat.completions.create(
            model=MODEL, messages=[user("hi")], extra_body={"parent_turn_id": str(uuid.uuid4())}
        )
    assert caught.value.code == "invalid_request"
    assert caught.value.param == "parent_turn_id"

    with pytest.raises(openai.NotFoundError) as missing:
        say(stack.client(), unique("nosuchturn"), "hi", parent_turn_id=str(uuid.uuid4()))
    assert missing.value.code == "not_found"
    assert missing.value.param == "parent_turn_id"


def test_list_and_export(stack: RunningStack) -> None:
    record = create_key_record(stack)
    client = stack.client(api_key=record["key"])
    first, second = unique("listed"), unique("listed")
    say(client, first, "one")
    say(client, second, "two")
    say(client, second, "three", parent_turn_id=read_session(stack, second, record["key"])["turns"][0]["id"])

    with sessions_api(stack, record["key"]) as api:
        page = api.get("/sessions", params={"limit": 1}).json()
        rest = api.get("/sessions", params={"limit": 1, "after": page["last_id"]}).json()
        export = api.get(f"/sessions/{second}/export")

    assert [item["id"] for item in page["data"]] == [second]
    assert page["has_more"] is True
    assert [item["id"] for item in rest["data"]] == [first]
    assert rest["has_more"] is False
    assert page["data"][0]["turn_count"] == 4
    assert page["data"][0]["branch_count"] == 2
    assert export.status_code == 200
    assert "attachment" in export.headers["content-disposition"]
    document = export.json()
    assert document["object"] == "session.export"
    assert document["session"]["id"] == second
    assert len(document["turns"]) == 4
    assert [[message["content"] for message in branch["messages"]] for branch in document["branches"]] == [
        ["two", "Emulated reply from gpt-4o-mini: two"],
        ["two", "three", "Emulated reply from gpt-4o-mini: three"],
    ]


def test_reply_fields_are_stored_whole(stack: RunningStack) -> None:
    """Every field of a reply (reasoning, thinking blocks, reasoning details) is stored as it came."""
    record = create_key_record(stack)
    session = unique("fields")
    reply = {
        "role": "assistant",
        "content": "391.",
        "reasoning_content": "17*23 is 391.",
        "thinking_blocks": [{"type": "thinking", "thinking": "17*23 is 391.", "signature": "EqwBCkYIBRgC=="}],
        "reasoning_details": [{"type": "reasoning.text", "text": "17*23 is 391."}],
    }
    now = datetime.now(UTC)
    stack.loop.run(publish_turns(stack, record["project_id"], session, [user("17*23?"), reply], now, now))

    assert read_session(stack, session, record["key"])["turns"][1]["message"] == reply


def test_streamed_thinking_blocks_go_back_signed(stack: RunningStack) -> None:
    """A streamed Anthropic reply is stored with its signed thinking block; the emulator checks it on return."""
    session = unique("signed")
    marker = unique("signed")
    client = stack.client()
    thinking = {"thinking": {"enabled": True, "budget_tokens": 2048}}
    chunks = client.chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[user(f"17*23? {marker}")],
        stream=True,
        extra_body={"session_id": session, **thinking},
    )
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)

    stored = read_session(stack, session)["turns"][1]["message"]
    client.chat.completions.create(
        model="anthropic/claude-sonnet-4",
        messages=[user(f"and 17*24? {marker}")],
        extra_body={"session_id": session, **thinking},
    )

    assert stored["content"] == streamed
    [block] = stored["thinking_blocks"]
    assert block["signature"].startswith("EmuSig")
    assert stored["reasoning_content"] == block["thinking"]
    sent_back = upstream_messages(stack, marker)[-1][1]
    assert sent_back["role"] == "assistant"
    assert sent_back["content"][0] == block


def test_retention_deletes_old_turns(stack: RunningStack) -> None:
    record = create_key_record(stack)
    session = unique("retained")
    old = datetime.now(UTC) - timedelta(days=3)
    old_turns = [user("old"), {"role": "assistant", "content": "x"}]
    stack.loop.run(publish_turns(stack, record["project_id"], session, old_turns, old, old))
    say(stack.client(api_key=record["key"]), session, "new")
    assert read_session(stack, session, record["key"])["turn_count"] == 4

    with httpx.Client(
        base_url=f"{stack.base_url}/admin", headers={"Authorization": f"Bearer {stack.admin_token}"}, timeout=30
    ) as admin:
        before = admin.get(f"/projects/{record['project_id']}/session-retention").json()
        applied = admin.put(f"/projects/{record['project_id']}/session-retention", json={"days": 1}).json()
        unknown = admin.put("/projects/no-such-project/session-retention", json={"days": 1})
        invalid = admin.put(f"/projects/{record['project_id']}/session-retention", json={"days": 0})

    assert before == {"project_id": record["project_id"], "days": None}
    assert applied == {"project_id": record["project_id"], "days": 1, "deleted_turns": 2}
    assert unknown.status_code == 404
    assert invalid.status_code == 400
    turns = read_session(stack, session, record["key"])["turns"]
    assert [turn["content"] for turn in turns] == ["new", "Emulated reply from gpt-4o-mini: new"]
    assert turns[0]["parent_turn_id"] is None


async def publish_turns(
    stack: RunningStack,
    project_id: str,
    session: str,
    messages: list[dict[str, Any]],
    started_at: datetime,
    completed_at: datetime,
) -> None:
    """Publish a session event as the router does, for turns that no emulated provider produces."""
    request_id = f"req_{uuid.uuid4().hex}"
    event = SessionTurnsEvent(
        request_id=request_id,
        project_id=project_id,
        session_id=session,
        model=MODEL,
        status="ok",
        turns=[
            SessionTurn(turn_id=turn_id(request_id, index), role=message["role"], message=message)
            for index, message in enumerate(messages)
        ],
        includes_reply=True,
        started_at=started_at,
        completed_at=completed_at,
    )
    nc = await nats.connect(stack.nats_url)
    try:
        await nc.jetstream().publish(
            session_event_subject(project_id, session),
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": event_id("session", request_id)},
        )
    finally:
        await nc.close()


async def _usage_recorded(stack: RunningStack, request_id: str) -> bool:
    connection = await asyncpg.connect(stack.stack.database_url)
    try:
        return bool(
            await connection.fetchval("SELECT count(*) FROM accounting.usage_records WHERE request_id = $1", request_id)
        )
    finally:
        await connection.close()


async def _rows_mentioning(stack: RunningStack, text: str) -> dict[str, int]:
    """Count, per table of the sessions and accounting schemas, the rows whose values contain `text`."""
    connection = await asyncpg.connect(stack.stack.database_url)
    try:
        tables = await connection.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('sessions', 'accounting') AND table_type = 'BASE TABLE'"
        )
        found = {}
        for schema, table in tables:
            count = await connection.fetchval(
                f'SELECT count(*) FROM "{schema}"."{table}" AS r WHERE row_to_json(r)::text LIKE $1', f"%{text}%"
            )
            if count:
                found[f"{schema}.{table}"] = count
        return found
    finally:
        await connection.close()


async def _stream_mentions(stack: RunningStack, project_id: str, session: str, text: str) -> bool:
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        subject = session_event_subject(project_id, session)
        seq = 1
        for _ in range(100):
            try:
                message = await js.get_msg(bus.SESSION_STREAM.name, seq=seq, subject=subject, next=True)
            except NotFoundError:
                return False
            if text in (message.data or b"").decode():
                return True
            seq = (message.seq or seq) + 1
        return False
    finally:
        await nc.close()


def test_request_during_delete_stays_deleted(stack: RunningStack) -> None:
    session = unique("tombstone")
    client = stack.client()
    say(client, session, "before")
    slow = threading.Thread(target=say, args=(client, session, "during\n#emulate first_delay_ms=1000"))
    slow.start()
    time.sleep(0.3)

    with sessions_api(stack) as api:
        deleted = api.delete(f"/sessions/{session}")
    slow.join(timeout=30)

    assert deleted.status_code == 200
    with sessions_api(stack) as api:
        assert api.get(f"/sessions/{session}").status_code == 404
    say(client, session, "after")
    assert [turn["content"] for turn in read_session(stack, session)["turns"]] == [
        "after",
        "Emulated reply from gpt-4o-mini: after",
    ]


def test_replay_drops_reasoning_for_model_without_it(stack: RunningStack) -> None:
    marker = unique("reasoned")
    session = unique("reasoned")
    thinking = {"thinking": {"enabled": True, "budget_tokens": 1024}, "max_tokens": 2048}
    say(stack.client(), session, f"question {marker}", model="anthropic/claude-haiku-4-5", **thinking)

    with sessions_api(stack) as api:
        response = api.post(f"/sessions/{session}/replay", json={"model": OTHER_MODEL})

    assert response.status_code == 201, response.text
    assert response.json()["completed"] is True
    received = [record["body"] for record in stack.received_with(marker)]
    [replayed] = [body for body in received if body["model"] == "mistral-small-latest"]
    assert "thinking" not in replayed
    assert replayed["max_tokens"] == 2048


def test_replay_is_held_to_the_budget(stack: RunningStack) -> None:
    record = create_key_record(stack)
    marker = unique("capped")
    session = unique("capped")
    say(stack.client(api_key=record["key"]), session, f"question {marker}")
    with httpx.Client(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.admin_token}"}) as admin:
        capped = admin.patch(f"/admin/projects/{record['project_id']}", json={"daily_budget_usd": "0"})
    assert capped.status_code == 200, capped.text

    def chat_rejected() -> bool:
        try:
            say(stack.client(api_key=record["key"]), unique("probe"), "probe")
        except openai.APIStatusError as error:
            return error.status_code == 402
        return False

    wait_until(chat_rejected)
    sent_before = len(upstream_messages(stack, marker))
    with sessions_api(stack, record["key"]) as api:
        # A priced model: a model without prices has a worst case of zero, which fits any cap.
        response = api.post(f"/sessions/{session}/replay", json={"model": MODEL})

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert len(upstream_messages(stack, marker)) == sent_before


def test_image_too_large_for_event_is_left_out(stack: RunningStack) -> None:
    """A 9 MB image exceeds the local NATS max_payload of 8 MB, so the session keeps a note in its place."""
    marker = unique("huge")
    session = unique("huge")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * (9 * 1024 * 1024)}}
    stack.client().chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": marker}, image]}],
        extra_body={"session_id": session},
    )

    say(stack.client(), session, f"and now {marker}")

    first = upstream_messages(stack, marker)[-1][0]
    assert first["content"][0] == {"type": "text", "text": marker}
    assert first["content"][1]["type"] == "text"
    assert "too large to keep in the session" in first["content"][1]["text"]


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_replay_sends_tools_and_maps_call_ids(stack: RunningStack) -> None:
    marker = unique("tools")
    session = unique("tools")
    client = stack.client()
    first = client.chat.completions.create(
        model=MODEL,
        messages=[user(f"Weather in Paris? {marker}\n#emulate tool=get_weather")],
        tools=[WEATHER_TOOL],
        extra_body={"session_id": session},
    )
    [call] = first.choices[0].message.tool_calls
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "tool", "tool_call_id": call.id, "content": "Sunny"}],
        tools=[WEATHER_TOOL],
        extra_body={"session_id": session},
    )

    with sessions_api(stack) as api:
        response = api.post(f"/sessions/{session}/replay", json={"model": "deepseek/deepseek-chat"})

    assert response.status_code == 201, response.text
    replay = response.json()
    assert replay["completed"] is True
    new_call, tool_result, answer = replay["turns"]
    [new_call_entry] = new_call["message"]["tool_calls"]
    assert new_call_entry["id"] != call.id
    assert tool_result["message"]["tool_call_id"] == new_call_entry["id"]
    assert answer["content"] == "Based on the tool: Sunny"
    replayed = [record["body"] for record in stack.received_with(marker) if record["body"]["model"] == "deepseek-chat"]
    assert [body["tools"] for body in replayed] == [[WEATHER_TOOL], [WEATHER_TOOL]]
    assert replay["turns"][0]["request_options"] == {"tools": [WEATHER_TOOL]}
