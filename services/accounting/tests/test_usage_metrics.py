"""The labels of accounting's token and cost counters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from prometheus_client import REGISTRY

from gateway_accounting.observability import count_recorded
from gateway_contracts import CatalogEntry, CostBreakdown, TokenUsage, UsageEvent, catalog_key
from gateway_contracts.kv import BucketMirror


def event(project_id: str, model: str) -> UsageEvent:
    now = datetime.now(UTC)
    return UsageEvent(
        request_id=f"req_{uuid.uuid4().hex}",
        project_id=project_id,
        key_id="key",
        model=model,
        provider=model.split("/")[0],
        upstream_model=model.split("/")[1],
        status="ok",
        http_status=200,
        stream=False,
        usage=TokenUsage(prompt_tokens=10, completion_tokens=4, total_tokens=14),
        cost=CostBreakdown(input=Decimal("0.25"), output=Decimal("0.5"), total=Decimal("0.75")),
        started_at=now,
        finished_at=now,
        latency_ms=5.0,
    )


def catalog_of(*models: str) -> BucketMirror[CatalogEntry]:
    mirror: BucketMirror[CatalogEntry] = BucketMirror(None, CatalogEntry)  # type: ignore[arg-type]  # never started
    for model in models:
        provider, name = model.split("/")
        mirror.records[catalog_key(model)] = CatalogEntry(id=model, provider=provider, upstream_name=name)
    return mirror


def tokens(project: str, model: str, kind: str) -> float | None:
    return REGISTRY.get_sample_value("gateway_tokens_total", {"project": project, "model": model, "type": kind})


def test_catalog_models_keep_their_label() -> None:
    project = f"p-{uuid.uuid4().hex}"

    count_recorded([event(project, "acme/large"), event(project, "acme/large")], catalog_of("acme/large"), True)

    assert tokens(project, "acme/large", "input") == 20
    assert tokens(project, "acme/large", "output") == 8
    assert REGISTRY.get_sample_value("gateway_cost_usd_total", {"project": project, "model": "acme/large"}) == 1.5


def test_other_models_are_labelled_other() -> None:
    project = f"p-{uuid.uuid4().hex}"

    count_recorded([event(project, "acme/unlisted")], catalog_of("acme/large"), True)

    assert tokens(project, "other", "input") == 10
    assert tokens(project, "acme/unlisted", "input") is None


def test_project_labels_can_be_turned_off() -> None:
    model = f"acme/m-{uuid.uuid4().hex[:8]}"
    before = tokens("", model, "input") or 0

    count_recorded([event(f"p-{uuid.uuid4().hex}", model)], catalog_of(model), False)

    assert tokens("", model, "input") == before + 10


def test_batch_of_several_projects_counted_apart() -> None:
    first, second = f"p-{uuid.uuid4().hex}", f"p-{uuid.uuid4().hex}"
    batch = [event(first, "acme/large"), event(second, "acme/large"), event(first, "acme/unlisted")]

    count_recorded(batch, catalog_of("acme/large"), True)

    assert tokens(first, "acme/large", "input") == 10
    assert tokens(second, "acme/large", "input") == 10
    assert tokens(first, "other", "output") == 4
    assert REGISTRY.get_sample_value("gateway_cost_usd_total", {"project": first, "model": "acme/large"}) == 0.75
