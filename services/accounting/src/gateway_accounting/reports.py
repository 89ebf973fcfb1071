"""Usage reports for a project, read from ClickHouse."""

from __future__ import annotations

from gateway_accounting.analytics import USAGE_REPORT_SQL, AnalyticsStore
from gateway_contracts.rpc import UsageReport, UsageReportRequest, UsageRow


async def usage_report(store: AnalyticsStore, request: UsageReportRequest) -> UsageReport:
    rows = await store.query_json(
        USAGE_REPORT_SQL,
        {"project_id": request.project_id, "start": request.start.isoformat(), "end": request.end.isoformat()},
    )
    return UsageReport(rows=[UsageRow.model_validate(row) for row in rows])
