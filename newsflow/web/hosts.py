"""Politeness per host: at most N requests at once and a minimum delay between their starts.

Each crawler process keeps one gate per host name; many hosts proceed in parallel, each at
its own pace. A robots.txt Crawl-delay raises a host's delay (up to a cap).

A gate with no request running or waiting, whose delay since the last start has passed,
holds nothing a new gate would not: such idle gates are dropped once there are more than
``max_gates`` (a crawler meets thousands of hosts). The Crawl-delay is applied again from the
cached robots.txt on every request, so a dropped gate loses no politeness.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

#: Gates kept before the idle ones are dropped.
MAX_GATES = 4096


@dataclass
class HostGate:
    """One host's turn-taking."""

    concurrency: int
    delay: float
    _slots: asyncio.Semaphore = field(init=False)
    _next_start: float = 0.0
    _active: int = 0  # requests running or waiting for a slot

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.concurrency)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Waits for a free slot and for the host's delay since the previous start."""
        self._active += 1
        try:
            async with self._slots:
                loop = asyncio.get_running_loop()
                now = loop.time()
                # The start time is reserved before sleeping, so requests queued behind this
                # one are spaced from it even while it waits.
                start = max(now, self._next_start)
                self._next_start = start + self.delay
                if start > now:
                    try:
                        await asyncio.sleep(start - now)
                    except asyncio.CancelledError:
                        # Never started (its link's time ran out, the worker stops): its time
                        # goes to the next request unless a later one was reserved already.
                        # Kept, every such cancellation pushed the host's next start one delay
                        # further: a fetch worker sending a host's waiting links back and
                        # taking new ones drifted the start ahead of every link's deadline,
                        # and the host was never fetched again.
                        if self._next_start == start + self.delay:
                            self._next_start = start
                        raise
                yield
        finally:
            self._active -= 1

    def idle(self, now: float) -> bool:
        """True when dropping this gate changes nothing: no request, and its delay is over."""
        return self._active == 0 and self._next_start <= now


@dataclass
class HostGates:
    """The gate of every host this process is talking to (see the module doc)."""

    concurrency: int
    delay: float
    max_delay: float
    max_gates: int = MAX_GATES
    _gates: dict[str, HostGate] = field(default_factory=dict)

    def gate(self, host: str) -> HostGate:
        gate = self._gates.get(host)
        if gate is None:
            if len(self._gates) >= self.max_gates:
                self._drop_idle()
            gate = self._gates[host] = HostGate(self.concurrency, self.delay)
        return gate

    def slow_down(self, host: str, crawl_delay: float | None) -> None:
        """Applies a robots.txt Crawl-delay (never below the configured delay, capped)."""
        if crawl_delay is not None:
            gate = self.gate(host)
            gate.delay = max(self.delay, min(crawl_delay, self.max_delay))

    def __len__(self) -> int:
        return len(self._gates)

    def _drop_idle(self) -> None:
        # One sweep per max_gates new hosts at most: the busy gates are few (a batch's hosts).
        now = asyncio.get_running_loop().time()
        for host in [h for h, g in self._gates.items() if g.idle(now)]:
            del self._gates[host]
