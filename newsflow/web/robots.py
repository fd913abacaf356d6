"""robots.txt: fetched once per origin, cached, and asked before every request.

RFC 9309's rules for a robots.txt that cannot be had: a 4xx (none there) allows everything;
a 5xx or no answer at all disallows everything for the origin until the cache entry expires
(the site may be overloaded, and it must not be crawled meanwhile).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from protego import Protego

from newsflow.web.addresses import Origin

#: robots.txt files larger than this are cut (RFC 9309 asks parsers to read at least 500 KiB).
MAX_ROBOTS_BYTES = 512_000


@dataclass(frozen=True)
class Robots:
    """The rules of one origin (or "allow all" / "disallow all" when there are none)."""

    parser: Protego | None = None
    disallow_all: bool = False
    why: str = ""

    def allows(self, url: str, user_agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


def robots_from(status: int | None, body: bytes) -> Robots:
    """The rules a robots.txt response gives (``status`` None: the request failed)."""
    if status is not None and 200 <= status < 300:
        text = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return Robots(parser=Protego.parse(text))
    if status is not None and 400 <= status < 500:
        return Robots(why=f"robots.txt: HTTP {status}, everything allowed")
    what = f"HTTP {status}" if status is not None else "no answer"
    return Robots(disallow_all=True, why=f"robots.txt unavailable ({what}): nothing allowed")


@dataclass
class RobotsCache:
    """Rules per origin for ``ttl`` seconds; one fetch per origin at a time."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[Origin, tuple[float, Robots]] = field(default_factory=dict)
    _locks: dict[Origin, asyncio.Lock] = field(default_factory=dict)

    def get(self, origin: Origin) -> Robots | None:
        entry = self._entries.get(origin)
        if entry is None or entry[0] < self.clock():
            return None
        return entry[1]

    def put(self, origin: Origin, robots: Robots) -> None:
        self._entries[origin] = (self.clock() + self.ttl, robots)

    def lock(self, origin: Origin) -> asyncio.Lock:
        """The lock that makes concurrent first requests to an origin fetch its rules once."""
        return self._locks.setdefault(origin, asyncio.Lock())
