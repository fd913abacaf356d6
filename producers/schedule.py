"""When a feed is polled next, and which of its entries are new: pure functions over FeedState.

- A feed that brought something new is polled again after its interval.
- One that answered 304 or listed nothing new waits 1.5 times longer with each such poll in
  a row, and one that failed twice as long with each failure in a row, both up to
  ``max_backoff_seconds``: a quiet or broken feed costs less and less.
- An entry is new when its canonical URL was not in the feed's last listing, and updated
  when it was but with another version (its updated or published date): an updated entry is
  fetched again even though its page is indexed. A feed that stamps every entry with one
  new date on each request (its build time, not the entries') updates nothing: otherwise
  every poll fetched every page of it again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsflow.reading.http import is_url
from newsflow.reading.identity import canonical_url
from newsflow.settings import CrawlSettings
from producers.feeds import FeedSpec
from producers.sitemaps import timestamp_of
from producers.sources.feed import FeedEntry
from schemas.crawl import FeedState, Validators

QUIET_FACTOR = 1.5
ERROR_FACTOR = 2.0


@dataclass(frozen=True)
class Fresh:
    """An entry to publish: new, or updated since it was last seen."""

    url: str
    entry: FeedEntry
    updated: bool


def is_due(state: FeedState | None, now: datetime) -> bool:
    """Whether a feed should be polled at ``now`` (never polled: yes)."""
    return state is None or state.next_poll_at is None or state.next_poll_at <= now


def interval_of(spec: FeedSpec, crawl: CrawlSettings) -> float:
    """Seconds between polls of a feed that keeps bringing news."""
    if spec.interval_minutes is not None:
        return spec.interval_minutes * 60
    return crawl.poll_interval_seconds


def fresh_entries(
    seen: dict[str, str], entries: Iterable[FeedEntry]
) -> tuple[list[Fresh], dict[str, str]]:
    """The entries that are new or updated against ``seen``, and the listing to remember.

    Only what the feed lists now is remembered, so the state stays as small as the feed; an
    entry that drops out and comes back is new again (its page, if indexed, is not fetched
    twice: the fetcher checks the index).
    """
    fresh: list[Fresh] = []
    listing: dict[str, str] = {}
    known = 0
    for entry in entries:
        if not entry.link or not is_url(entry.link):
            continue
        url = canonical_url(entry.link)
        if url in listing:
            continue
        listing[url] = entry.version
        if url not in seen:
            fresh.append(Fresh(url, entry, updated=False))
            continue
        known += 1
        if seen[url] != entry.version:
            fresh.append(Fresh(url, entry, updated=True))
    updated = [f for f in fresh if f.updated]
    if len(updated) >= 2 and len(updated) == known and len({f.entry.version for f in updated}) == 1:
        # Every entry seen before "changed", all to one date: the feed's, not theirs.
        fresh = [f for f in fresh if not f.updated]
    return fresh, listing


def within_cap(
    fresh: list[Fresh], listing: dict[str, str], seen: dict[str, str], cap: int
) -> tuple[list[Fresh], dict[str, str], int]:
    """At most ``cap`` of a poll's fresh entries, the listing to remember with them, and how
    many were left for later polls.

    One sitemap of 20 MB lists 500,000 URLs, and a poll published every new one at once:
    links to fetch for hours, to any public host. Past the cap, the newest entries (by
    their date; undated ones after, in the feed's order, as an index's children are read
    newest first) are published, in the feed's order. The others are left out of the
    remembered listing (an updated one keeps the version seen before), so the next poll
    finds them new again; none is lost, and the pass reports how many wait.
    """
    if len(fresh) <= cap:
        return fresh, listing, 0
    # sorted() is stable with reverse=True too: equal dates keep the feed's order.
    newest = sorted(
        range(len(fresh)), key=lambda i: timestamp_of(fresh[i].entry.version), reverse=True
    )
    chosen = set(newest[:cap])
    remembered = dict(listing)
    for index, entry in enumerate(fresh):
        if index in chosen:
            continue
        if entry.updated:
            remembered[entry.url] = seen[entry.url]
        else:
            del remembered[entry.url]
    kept = [entry for index, entry in enumerate(fresh) if index in chosen]
    return kept, remembered, len(fresh) - cap


def _entry_bytes(url: str, version: str) -> int:
    """What one remembered entry adds to the state's JSON (as pydantic writes it)."""
    return len(json.dumps({url: version}, ensure_ascii=False, separators=(",", ":")).encode()) - 1


def fit_state(state: FeedState, max_bytes: int) -> tuple[FeedState, int]:
    """The state within ``max_bytes`` of JSON, and how many remembered entries it forgot.

    The state is one message on the feed-state topic, and its listing is as large as what
    the feed lists: a sitemap index of 100,000 URLs is ~13 MB, over the topic's limit, and
    the producer refused the state at once, which ended the whole pass (`newsflow crawl`,
    the poll_feeds task) on every poll after. Past the limit the oldest entries (by their
    date; undated ones first) are forgotten: if the feed still lists them, a later poll finds
    them new and publishes them again, and the fetch worker skips the pages it indexed.
    """
    size = len(state.model_dump_json().encode())
    if size <= max_bytes:
        return state, 0
    oldest = sorted(state.seen.items(), key=lambda item: timestamp_of(item[1]))
    forgotten: set[str] = set()
    for url, version in oldest:
        if size <= max_bytes:
            break
        size -= _entry_bytes(url, version)
        forgotten.add(url)
    seen = {url: version for url, version in state.seen.items() if url not in forgotten}
    return state.model_copy(update={"seen": seen}), len(forgotten)


@dataclass(frozen=True)
class Polled:
    """What one poll of a feed came to."""

    status: int | None
    new: int = 0
    error: str | None = None
    validators: dict[str, Validators] | None = None
    listing: dict[str, str] | None = None


def after_poll(
    state: FeedState | None, spec: FeedSpec, polled: Polled, now: datetime, crawl: CrawlSettings
) -> FeedState:
    """The feed's state after a poll: validators, counters, the next poll and the listing."""
    old = state or FeedState(feed=spec.url)
    interval = interval_of(spec, crawl)
    errors = old.errors + 1 if polled.error else 0
    unchanged = 0 if polled.error or polled.new else old.unchanged + 1
    if polled.error:
        wait = interval * ERROR_FACTOR**errors
    else:
        wait = interval * QUIET_FACTOR**unchanged
    return old.model_copy(
        update={
            "validators": polled.validators if polled.validators is not None else old.validators,
            "last_polled_at": now,
            "next_poll_at": now + timedelta(seconds=min(wait, crawl.max_backoff_seconds)),
            "errors": errors,
            "unchanged": unchanged if not polled.error else old.unchanged,
            "last_status": polled.status,
            "last_error": polled.error,
            "seen": polled.listing if polled.listing is not None else old.seen,
        }
    )
