"""`GET /v1/analytics`: a project's requests, tokens, costs, errors and latencies, from ClickHouse's rollups."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import get_args

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse

from gateway_contracts import bus
from gateway_contracts.rpc import AnalyticsDimension, AnalyticsReport, AnalyticsRequest, Granularity
from gateway_edge.calls import call_service
from gateway_edge.errors import EdgeError
from gateway_edge.state import EdgeState

router = APIRouter()

_DEFAULT_DAYS = 7
_DIMENSIONS = frozenset(get_args(AnalyticsDimension))
_GRANULARITIES = frozenset(get_args(Granularity))

START = Query(default=None, description="Start, inclusive: an ISO date or UTC date-time (default: 7 days before `end`)")
END = Query(default=None, description="End, exclusive: an ISO date or UTC date-time (default: now)")
GRANULARITY = Query(default=None, description="`hour` or `day` for a time series; totals only when left out")
GROUP_BY = Query(default=None, description="Comma-separated dimensions: `model`, `provider`, `key`")
TIMEZONE = Query(default=None, description="IANA time zone of day boundaries (default: the project's)")


@router.get("/v1/analytics", summary="Analytics of the caller's project")
async def get_analytics(
    request: Request,
    start: str | None = START,
    end: str | None = END,
    granularity: str | None = GRANULARITY,
    group_by: str | None = GROUP_BY,
    timezone: str | None = TIMEZONE,
) -> JSONResponse:
    state: EdgeState = request.app.state.edge
    credential = state.auth.api_key(request.headers.get("authorization"))
    query = analytics_request(credential.project_id or "", start, end, granularity, group_by, timezone)
    return await analytics_response(state, query)


def analytics_request(
    project_id: str,
    start: str | None,
    end: str | None,
    granularity: str | None,
    group_by: str | None,
    timezone: str | None,
) -> AnalyticsRequest:
    """Validate the query parameters of an analytics call; each mistake is a 400 naming the parameter."""
    end_at = _moment(end, "end") if end else datetime.now(UTC)
    start_at = _moment(start, "start") if start else end_at - timedelta(days=_DEFAULT_DAYS)
    if granularity is not None and granularity not in _GRANULARITIES:
        raise EdgeError("invalid_request", "`granularity` must be `hour` or `day`.", param="granularity")
    dimensions = [name.strip() for name in (group_by or "").split(",") if name.strip()]
    unknown = [name for name in dimensions if name not in _DIMENSIONS]
    if unknown:
        raise EdgeError(
            "invalid_request",
            f"Unknown `group_by` dimension `{unknown[0]}`; use `model`, `provider` or `key`.",
            param="group_by",
        )
    return AnalyticsRequest(
        project_id=project_id,
        start=start_at,
        end=end_at,
        granularity=granularity,  # type: ignore[arg-type]  # checked against Granularity above
        group_by=list(dict.fromkeys(dimensions)),  # type: ignore[arg-type]  # checked against the dimensions above
        timezone=timezone,
    )


async def analytics_response(state: EdgeState, query: AnalyticsRequest) -> JSONResponse:
    report = await call_service(state, "accounting", bus.ACCOUNTING_ANALYTICS, query, AnalyticsReport)
    return JSONResponse(
        {
            "object": "analytics",
            "start": query.start.isoformat(),
            "end": query.end.isoformat(),
            "granularity": query.granularity,
            "group_by": query.group_by,
            # Costs are strings so that JSON parsers keep them exact.
            **report.model_dump(mode="json"),
        }
    )


def _moment(text: str, param: str) -> datetime:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EdgeError(
            "invalid_request", f"`{param}` must be an ISO date or date-time, not `{text}`.", param=param
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
