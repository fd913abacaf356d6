"""robots.txt: fetched once per origin, cached, and asked before every request.

RFC 9309's rules for a robots.txt that cannot be had: a 4xx (none there) allows everything;
a 5xx or no answer at all disallows everything for the origin until the cache entry expires
(the site may be overloaded, and it must not be crawled meanwhile). That is "unavailable",
not "disallowed": the client says ``robots_unavailable``, and the fetch worker defers such a
link and tries it again later instead of dead-lettering it at once.

The cache is bounded, because a crawler that follows aggregator feeds and news sitemaps meets
thousands of origins: a parsed robots.txt takes ~16 times its size in memory (a 20 KB file,
as large news sites have, ~320 KB), and an unbounded cache held 1 GB after 3,000 such sites
(`benchmarks/bench_crawl_hosts.py`). Two budgets, both in bytes of robots.txt text:

- the text of every origin's file is kept (so a file is fetched once per TTL, never again
  because of memory) up to ``text_bytes``, the least recently asked origins dropped beyond it;
- parsed rules are kept for the most recently asked origins up to ``text_bytes //
  PARSED_SHARE`` of their text; an origin asked again after its rules were dropped is parsed
  again from its text (~0.2 ms per KB), which costs no request to the site.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from protego import Protego

from newsflow.web.addresses import Origin

#: robots.txt files larger than this are cut (RFC 9309 asks parsers to read at least 500 KiB).
MAX_ROBOTS_BYTES = 512_000
#: Parsed rules are kept for this share (1/N) of the cached text budget.
PARSED_SHARE = 16
#: What an entry costs beyond its text (the key, the entry, a small parser), for the budget.
ENTRY_OVERHEAD = 512
#: Seconds an unavailable robots.txt (5xx, 429, no answer) is trusted before it is asked again
#: (the default of NEWSFLOW_CRAWL_ROBOTS_UNAVAILABLE_SECONDS).
UNAVAILABLE_TTL_SECONDS = 120.0


@dataclass(frozen=True)
class Robots:
    """The rules of one origin (or "allow all" / "disallow all" when there are none).

    ``text`` is the file the parser was built from ("" when there is none), so that the
    cache can drop the parser and build it again.
    """

    parser: Protego | None = None
    disallow_all: bool = False
    why: str = ""
    text: str = ""
    #: No rules could be had (5xx, 429, no answer): everything is refused for now.
    unavailable: bool = False

    def allows(self, url: str, user_agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


def parse_robots(text: str) -> Robots:
    """The rules of a robots.txt file's text."""
    return Robots(parser=Protego.parse(text), text=text)


def robots_from(status: int | None, body: bytes, failure: str | None = None) -> Robots:
    """The rules a robots.txt response gives (``status`` None: the request failed, for the
    reason ``failure`` says: unresolvable host, refused connection...)."""
    if status is not None and 200 <= status < 300:
        return parse_robots(body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace"))
    # 429 is the server asking us to slow down, not "no robots.txt": unavailable, as 5xx.
    if status is not None and 400 <= status < 500 and status != 429:
        return Robots(why=f"robots.txt: HTTP {status}, everything allowed")
    what = f"HTTP {status}" if status is not None else failure or "no answer"
    return Robots(
        disallow_all=True,
        why=f"robots.txt unavailable ({what}): nothing allowed",
        unavailable=True,
    )


@dataclass
class _Entry:
    expires: float
    robots: Robots | None  # None: the parser was dropped; parse_robots(text) rebuilds it
    text: str
    cost: int


@dataclass
class RobotsCache:
    """Rules per origin for ``ttl`` seconds, within a memory budget; one fetch per origin at
    a time. ``text_bytes``: see the module doc."""

    ttl: float
    text_bytes: int = 16_000_000
    unavailable_ttl: float = UNAVAILABLE_TTL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[Origin, _Entry] = field(default_factory=OrderedDict)
    _parsed: OrderedDict[Origin, None] = field(default_factory=OrderedDict)
    _text_total: int = 0
    _parsed_total: int = 0
    _locks: dict[Origin, asyncio.Lock] = field(default_factory=dict)

    def get(self, origin: Origin) -> Robots | None:
        entry = self._entries.get(origin)
        if entry is None:
            return None
        if entry.expires < self.clock():
            self._drop(origin)
            return None
        self._entries.move_to_end(origin)
        if entry.robots is None:
            entry.robots = parse_robots(entry.text)
            self._parsed[origin] = None
            self._parsed_total += entry.cost
            self._trim_parsed(keep=origin)
        elif origin in self._parsed:
            self._parsed.move_to_end(origin)
        return entry.robots

    def put(self, origin: Origin, robots: Robots) -> None:
        if origin in self._entries:
            self._drop(origin)
        cost = len(robots.text) + ENTRY_OVERHEAD
        # An unavailable robots.txt is asked again soon: kept for the whole ttl, one outage
        # of the site refused every link of it for an hour after the site was back.
        ttl = min(self.ttl, self.unavailable_ttl) if robots.unavailable else self.ttl
        self._entries[origin] = _Entry(self.clock() + ttl, robots, robots.text, cost)
        self._text_total += cost
        if robots.text:
            self._parsed[origin] = None
            self._parsed_total += cost
            self._trim_parsed(keep=origin)
        # The least recently asked origins go first; the one just put always stays.
        while self._text_total > self.text_bytes and len(self._entries) > 1:
            self._drop(next(iter(self._entries)))
        # Its fetch is over: later callers find the entry (or fetch again if it was dropped).
        self._locks.pop(origin, None)

    def forget_locks(self) -> None:
        """Drops the locks of fetches that never finished (a pass cut short): asyncio locks
        belong to one event loop, and the cache may outlive it."""
        self._locks.clear()

    def lock(self, origin: Origin) -> asyncio.Lock:
        """The lock that makes concurrent first requests to an origin fetch its rules once."""
        return self._locks.setdefault(origin, asyncio.Lock())

    def sizes(self) -> tuple[int, int, int]:
        """(origins cached, origins with parsed rules, bytes of text cached)."""
        return len(self._entries), len(self._parsed), self._text_total

    def _drop(self, origin: Origin) -> None:
        entry = self._entries.pop(origin)
        self._text_total -= entry.cost
        if origin in self._parsed:
            del self._parsed[origin]
            self._parsed_total -= entry.cost

    def _trim_parsed(self, keep: Origin) -> None:
        budget = self.text_bytes // PARSED_SHARE
        while self._parsed_total > budget and len(self._parsed) > 1:
            oldest = next(iter(self._parsed))
            if oldest == keep:
                self._parsed.move_to_end(oldest)
                continue
            del self._parsed[oldest]
            entry = self._entries[oldest]
            entry.robots = None
            self._parsed_total -= entry.cost
