"""Child processes of the local stack: started, watched, and stopped in order."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

logger = logging.getLogger("gateway_cli.processes")


class ChildProcess:
    """One child whose output goes to a log file or to the console with a name prefix."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path | None,
        console: TextIO | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self._cwd = cwd
        self._argv = argv
        self._env = env
        self._log_path = log_dir / f"{name}.log" if log_dir else None
        self._console = console or sys.stderr
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    async def start(self) -> None:
        if self._log_path is not None:
            log = self._log_path.open("ab")
            self.process = await asyncio.create_subprocess_exec(
                *self._argv,
                env=self._env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                cwd=self._cwd,
            )
            log.close()
            return
        self.process = await asyncio.create_subprocess_exec(
            *self._argv,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            # Ctrl-C reaches only `gateway up`, which then stops the children in order.
            start_new_session=True,
            cwd=self._cwd,
        )
        self._pump = asyncio.create_task(self._copy_output(), name=f"output-{self.name}")

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

    async def stop(self, timeout: float) -> None:
        """Ask the child to stop with SIGTERM, and kill it after `timeout` seconds."""
        self.stopping = True
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            logger.warning("%s did not stop within %.0f s; killing it", self.name, timeout)
            self.process.kill()
            await self.process.wait()
        if self._pump is not None:
            await asyncio.wait([self._pump], timeout=1)

    async def kill(self) -> None:
        """Kill the child with SIGKILL, as a crash would, and wait until it is gone."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.kill()
        await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        """The end of the child's log file, for error reports."""
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    async def _copy_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        prefix = f"{self.name:<10}| "
        async for line in self.process.stdout:
            self._console.write(prefix + line.decode(errors="replace"))
            self._console.flush()


def executable(name: str) -> str:
    """A console script installed beside this interpreter, as the venv installs them."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    return name


def child_environment(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
