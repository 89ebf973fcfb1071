"""Other gateways, installed into throwaway folders under `bench/.work/` and pointed at the same emulator.

LiteLLM's proxy comes from PyPI into its own virtual environment; Portkey's
gateway comes from npm. Each runs as one process with its defaults (LiteLLM
with one worker and no database), listening on 127.0.0.1 on a free port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from chat_load.scenarios import request_body
from chat_load.targets import EMULATOR_OPENAI_PATH, UPSTREAM_MODEL, Target, free_port

logger = logging.getLogger("bench.competitors")

LITELLM_VERSION = "1.108.7"
PORTKEY_VERSION = "1.15.2"
# Portkey's package accepts any @hono/node-server ^1.3.3, but from 1.14 on
# that server's lightweight Response keeps the upstream's immutable headers,
# and every streamed chat completion fails with `TypeError: immutable`
# (Portkey-AI/gateway issue 1389, open). Tried here: 1.14.2 and 1.19.19 fail,
# 1.11.5 and 1.13.8 stream, so the install pins the newest release that works.
HONO_NODE_SERVER_VERSION = "1.13.8"

# Installing litellm[proxy] resolves and downloads about a hundred packages.
_INSTALL_TIMEOUT = 900
_START_TIMEOUT = 120

_HERE = Path(__file__).resolve().parent


class CompetitorError(Exception):
    """A competitor could not be installed or started; the message names it and its log file."""


@dataclass(slots=True)
class Competitor:
    target: Target
    process: asyncio.subprocess.Process
    log_path: Path
    version: str

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def install_litellm(work: Path, version: str = LITELLM_VERSION) -> Path:
    """Install `litellm[proxy]==version` into `work/litellm/venv` unless it is there; return its `litellm` script."""
    folder = work / "litellm"
    venv = folder / "venv"
    stamp = folder / f"installed-{version}"
    script = venv / "bin" / "litellm"
    if stamp.exists() and script.exists():
        return script
    if venv.exists():
        shutil.rmtree(venv)
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "install.log"
    logger.info("Installing LiteLLM %s into %s (a few minutes on first use)", version, venv)
    _run_logged([sys.executable, "-m", "venv", str(venv)], log)
    _run_logged([str(venv / "bin" / "python"), "-m", "pip", "install", f"litellm[proxy]=={version}"], log)
    stamp.touch()
    return script


def install_portkey(work: Path, version: str = PORTKEY_VERSION) -> Path:
    """Install `@portkey-ai/gateway@version` into `work/portkey` unless it is there; return its server script."""
    folder = work / "portkey"
    stamp = folder / f"installed-{version}-node-server-{HONO_NODE_SERVER_VERSION}"
    script = folder / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    if stamp.exists() and script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        raise CompetitorError("Portkey's gateway needs Node.js and npm; install them or pass `--skip portkey`.")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    # A package.json of its own keeps npm from installing into a parent
    # folder, and its override reaches the copy that Portkey itself imports.
    manifest = {
        "name": "portkey-bench",
        "private": True,
        "dependencies": {"@portkey-ai/gateway": version},
        "overrides": {"@hono/node-server": HONO_NODE_SERVER_VERSION},
    }
    (folder / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("Installing Portkey's gateway %s into %s", version, folder)
    _run_logged([npm, "install", "--no-audit", "--no-fund"], folder / "install.log", cwd=folder)
    if not script.exists():
        raise CompetitorError(f"npm installed @portkey-ai/gateway@{version} without {script}.")
    stamp.touch()
    return script


async def start_litellm(work: Path, emulator_url: str) -> Competitor:
    script = install_litellm(work)
    folder = work / "litellm"
    port = free_port()

    config = folder / "config.yaml"
    config.write_text(
        "\n".join(
            [
                "model_list:",
                f"  - model_name: {UPSTREAM_MODEL}",
                "    litellm_params:",
                f"      model: openai/{UPSTREAM_MODEL}",
                f"      api_base: {emulator_url}{EMULATOR_OPENAI_PATH}",
                "      api_key: emulator",
                "",
            ]
        )
    )
    # LiteLLM refuses to start without a master key; with one and no
    # database, it authenticates each request against that key, as we do.
    master_key = f"sk-{secrets.token_hex(16)}"
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": master_key,
        # Read the model price map shipped in the package instead of fetching it.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }

    argv = [str(script), "--config", str(config), "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    target = Target(
        key="litellm",
        label=f"LiteLLM {LITELLM_VERSION}",
        base_url=f"http://127.0.0.1:{port}/v1",
        model=UPSTREAM_MODEL,
        headers={"Authorization": f"Bearer {master_key}"},
    )
    return await _start(target, argv, env, folder / "server.log", LITELLM_VERSION)


async def start_portkey(work: Path, emulator_url: str) -> Competitor:
    script = install_portkey(work)
    node = shutil.which("node")
    assert node is not None, "npm was found, so node is installed beside it"
    port = free_port()
    # Portkey's server binds every interface; the preload binds it to 127.0.0.1 only.
    argv = [node, "--require", str(_HERE / "loopback.cjs"), str(script), f"--port={port}", "--headless"]
    target = Target(
        key="portkey",
        label=f"Portkey {PORTKEY_VERSION}",
        base_url=f"http://127.0.0.1:{port}/v1",
        model=UPSTREAM_MODEL,
        headers={
            "Authorization": "Bearer emulator",
            "x-portkey-provider": "openai",
            "x-portkey-custom-host": f"{emulator_url}{EMULATOR_OPENAI_PATH}",
        },
    )
    env = {**os.environ, "NODE_ENV": "production"}
    return await _start(target, argv, env, work / "portkey" / "server.log", PORTKEY_VERSION)


async def _start(target: Target, argv: list[str], env: dict[str, str], log_path: Path, version: str) -> Competitor:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    target.pids = {target.key: process.pid}
    competitor = Competitor(target=target, process=process, log_path=log_path, version=version)
    try:
        await _wait_until_serving(competitor)
    except BaseException:
        await competitor.stop()
        raise
    return competitor


async def _wait_until_serving(competitor: Competitor) -> None:
    """Wait until one chat completion through the competitor succeeds."""
    target = competitor.target
    deadline = time.monotonic() + _START_TIMEOUT
    body = request_body(target.model, stream=False)
    headers = {"Content-Type": "application/json", **target.headers}
    last_problem = "no answer"
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < deadline:
            if competitor.process.returncode is not None:
                raise CompetitorError(
                    f"{target.label} exited with status {competitor.process.returncode} during start-up; "
                    f"see {competitor.log_path}."
                )
            try:
                response = await client.post(target.url, content=body, headers=headers)
            except httpx.HTTPError as error:
                last_problem = f"{type(error).__name__}"
            else:
                if response.status_code == 200:
                    return
                last_problem = f"status {response.status_code}: {response.text[:300]}"
            await asyncio.sleep(0.5)
    raise CompetitorError(
        f"{target.label} did not serve a chat completion within {_START_TIMEOUT} s ({last_problem}); "
        f"see {competitor.log_path}."
    )


def _run_logged(argv: list[str], log: Path, cwd: Path | None = None) -> None:
    with log.open("ab") as output:
        try:
            completed = subprocess.run(
                argv, stdout=output, stderr=subprocess.STDOUT, cwd=cwd, timeout=_INSTALL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise CompetitorError(
                f"`{' '.join(argv)}` did not finish within {_INSTALL_TIMEOUT} s; see {log}."
            ) from None
    if completed.returncode != 0:
        raise CompetitorError(f"`{' '.join(argv)}` failed with status {completed.returncode}; see {log}.")
