"""The contracts library installs into a fresh environment on its own, without any service package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
CONTRACTS = ROOT / "libs" / "contracts"
SERVICE_PACKAGES = ("gateway_edge", "gateway_router", "gateway_accounting", "gateway_sessions", "gateway_catalog")

CHECK = f"""
import importlib.util
from pathlib import Path

from gateway_contracts import UsageRecorded, bus, decode_event

for name in {SERVICE_PACKAGES!r} + ("nats", "opentelemetry"):
    assert importlib.util.find_spec(name) is None, name
fixture = Path({str(CONTRACTS / "tests" / "fixtures" / "events" / "usage.recorded.v1.json")!r}).read_bytes()
event = decode_event(fixture)
assert isinstance(event, UsageRecorded), type(event)
assert UsageRecorded.subject == bus.USAGE_RECORDED_SUBJECT
print(event.model, event.cost.total)
"""


def test_contracts_install_alone_in_a_fresh_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)

    install = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"),
            *("--disable-pip-version-check", "-c", str(ROOT / "constraints.txt"), str(CONTRACTS)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    result = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["openai/gpt-4o-mini", "0.0002118"]
