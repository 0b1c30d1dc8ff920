"""The app's shared state: one Wiring, used from one worker thread.

The Wiring is built once when the app starts (or handed in by `psledger
serve`, which builds it before uvicorn starts so a bad store is one line on
stderr). Every ledger and quarantine call runs on a single dedicated thread,
so the store sees one caller at a time and the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from fastapi import Request

from psledger.bootstrap import Wiring, bootstrap
from psledger.http.config import AccessConfig
from psledger.settings import Settings

T = TypeVar("T")


class Service:
    def __init__(self, settings: Settings, access: AccessConfig, wiring: Wiring | None) -> None:
        self.settings = settings
        self.access = access
        self._wiring = wiring
        self._owns_wiring = wiring is None
        self._executor: ThreadPoolExecutor | None = None

    @property
    def wiring(self) -> Wiring:
        if self._wiring is None:
            raise RuntimeError("the app has not started")
        return self._wiring

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="psledger-ledger")
        if self._wiring is None:
            self._wiring = await self.run(bootstrap, self.settings)

    async def stop(self) -> None:
        if self._executor is None:
            return
        if self._owns_wiring and self._wiring is not None:
            await self.run(self._wiring.close)
            self._wiring = None
        self._executor.shutdown(wait=True)
        self._executor = None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn` on the ledger thread and wait for it."""
        if self._executor is None:
            raise RuntimeError("the app has not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))


def service_of(request: Request) -> Service:
    service: Service = request.app.state.service
    return service
