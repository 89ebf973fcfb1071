"""Where the edge serves `/metrics`."""

from __future__ import annotations

from starlette.testclient import TestClient

from gateway_edge.app import create_app
from gateway_edge.settings import EdgeSettings


def get_metrics(http_metrics: bool):
    # Without `with`, the client runs no lifespan, so the app connects to nothing.
    client = TestClient(create_app(EdgeSettings(GATEWAY_HTTP_METRICS=http_metrics)))
    return client.get("/metrics")


def test_api_port_serves_metrics_by_default() -> None:
    response = get_metrics(True)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE gateway_requests_total counter" in response.text
    assert response.headers["x-request-id"].startswith("req_")


def test_metrics_route_can_be_turned_off() -> None:
    response = get_metrics(False)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
