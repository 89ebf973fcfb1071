"""Write a JSON Schema file for every event, record and RPC body.

Usage: `python -m gateway_contracts.schema OUTDIR`
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from gateway_contracts import events, records, rpc, sessions
from gateway_contracts.chat import ChatCompletionRequest

EXPORTED: tuple[type[BaseModel], ...] = (
    ChatCompletionRequest,
    events.UsageEvent,
    events.SessionTurnsEvent,
    events.BudgetThresholdEvent,
    records.CredentialRecord,
    records.BudgetRecord,
    records.LedgerRecord,
    records.ProviderStatus,
    records.CatalogEntry,
    records.ModelAlias,
    rpc.RpcError,
    rpc.HistoryRequest,
    rpc.HistoryReply,
    rpc.UsageReportRequest,
    rpc.UsageReport,
    rpc.BootstrapRequest,
    rpc.BootstrapReply,
    rpc.AdminModel,
    rpc.AdminModelList,
    rpc.ModelUpdate,
    rpc.PriceChange,
    rpc.PriceRef,
    rpc.AliasSet,
    rpc.AliasList,
    rpc.AnalyticsRequest,
    rpc.AnalyticsReport,
    rpc.RecentRequestsRequest,
    rpc.RecentRequests,
    rpc.BudgetStatus,
    rpc.ReconcileReport,
    sessions.SessionRef,
    sessions.PathRequest,
    sessions.SessionPath,
    sessions.SessionListRequest,
    sessions.SessionList,
    sessions.SessionDetail,
    sessions.SessionDeleted,
    sessions.RetentionRef,
    sessions.RetentionSetting,
    sessions.RetentionApplied,
)


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in EXPORTED:
        path = directory / f"{model.__name__}.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m gateway_contracts.schema OUTDIR", file=sys.stderr)
        return 2
    for path in write_schemas(Path(argv[1])):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
