"""Politeness per host: at most N requests at once and a minimum delay between their starts.

Each crawler process keeps one gate per host name; many hosts proceed in parallel, each at
its own pace. A robots.txt Crawl-delay raises a host's delay (up to a cap).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


@dataclass
class HostGate:
    """One host's turn-taking."""

    concurrency: int
    delay: float
    _slots: asyncio.Semaphore = field(init=False)
    _next_start: float = 0.0

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Waits for a free slot and for the host's delay since the previous start."""
        async with self._slots:
            loop = asyncio.get_running_loop()
            now = loop.time()
            # The start time is reserved before sleeping, so requests queued behind this one
            # are spaced from it even while it waits.
            start = max(now, self._next_start)
            self._next_start = start + self.delay
            if start > now:
                await asyncio.sleep(start - now)
            yield


@dataclass
class HostGates:
    """The gate of every host this process has talked to."""

    concurrency: int
    delay: float
    max_delay: float
    _gates: dict[str, HostGate] = field(default_factory=dict)

    def gate(self, host: str) -> HostGate:
        gate = self._gates.get(host)
        if gate is None:
            gate = self._gates[host] = HostGate(self.concurrency, self.delay)
        return gate

    def slow_down(self, host: str, crawl_delay: float | None) -> None:
        """Applies a robots.txt Crawl-delay (never below the configured delay, capped)."""
        if crawl_delay is not None:
            gate = self.gate(host)
            gate.delay = max(self.delay, min(crawl_delay, self.max_delay))
