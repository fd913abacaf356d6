"""The feed poller: one pass over the feeds that are due, publishing what is new.

For each feed: a conditional GET (the ETag and Last-Modified it sent last time; a 304 costs
nothing more), then RSS/Atom through ``parse_feed`` or a sitemap through ``parse_sitemap``
(a sitemap index's children are polled the same way), then the entries not seen before (or
updated since) become Links on the links topic, keyed by their canonical URL. With fetching
off (``NEWSFLOW_CRAWL_FETCH_PAGES=false``) each entry's own text goes to the raw topic
instead, marked as a summary.

A feed's state (validators, schedule, the entries it listed) is kept on the compacted
feed-state topic, written only after the feed's links were acknowledged: a crash in between
publishes the same links again next time (the fetcher does not fetch an indexed page twice),
never loses one. Feeds on many hosts are polled at once, and each is published (links, then
state) as soon as its own poll ends, so one slow feed holds up no other; the WebClient keeps
each host to its politeness limits. The same ``poll_feeds`` runs in `newsflow crawl` and the
poll_feeds DAG.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice

from kafka import KafkaProducer
from kafka.errors import KafkaError
from pydantic import ValidationError

from newsflow.kafka.clients import make_producer
from newsflow.kafka.delivery import Outbox
from newsflow.kafka.table import read_table
from newsflow.kafka.topics import ensure_topics, message_limit
from newsflow.reading.files import gunzip
from newsflow.settings import Settings
from newsflow.web.addresses import origin_of
from newsflow.web.client import FEED_ACCEPT, Want, WebClient
from newsflow.web.robots import RobotsCache
from producers.feeds import FeedSpec, host_by_host
from producers.links import link_for, summary_article
from producers.schedule import (
    Fresh,
    Polled,
    after_poll,
    fit_state,
    fresh_entries,
    is_due,
    within_cap,
)
from producers.sitemaps import ChildSitemap, looks_like_sitemap, parse_sitemap, reading_order
from producers.sources.feed import FeedEntry, parse_feed
from schemas.crawl import FeedState, Link, Validators
from schemas.failures import FetchError, SourceError
from schemas.wire import encode_raw

log = logging.getLogger(__name__)

#: Child sitemaps read per sitemap index and poll (in sitemaps.reading_order: the changed and
#: never read first, then the one read longest ago; the next poll goes on from there).
MAX_CHILD_SITEMAPS = 20
#: Bytes a feed state's record needs beyond its key and value (batch and record headers).
STATE_RECORD_OVERHEAD = 512
#: Entries a sitemap index's state remembers at most.
MAX_LISTING = 50_000


@dataclass
class FeedPoll:
    """One feed's poll: its outcome, new entries and the title the feed gave itself."""

    spec: FeedSpec
    polled: Polled
    fresh: list[Fresh] = field(default_factory=list)
    title: str | None = None
    #: The child sitemaps of an index that failed this poll, each as "URL ... why".
    skipped: list[str] = field(default_factory=list)
    #: Child sitemaps past this poll's MAX_CHILD_SITEMAPS, left for the next polls.
    left: int = 0
    #: New entries past NEWSFLOW_CRAWL_MAX_LINKS_PER_POLL, left for the next polls.
    deferred: int = 0


@dataclass
class PollSummary:
    """What a pass did, feed by feed and in total."""

    polled: int = 0
    not_modified: int = 0
    not_due: int = 0
    links: int = 0
    summaries: int = 0
    without_text: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: (feed, "child URL ... why") for each child sitemap an index that was read skipped.
    skipped_children: list[tuple[str, str]] = field(default_factory=list)
    #: (feed, how many) for each index with more child sitemaps than a poll reads.
    children_left: list[tuple[str, int]] = field(default_factory=list)
    new_by_feed: dict[str, int] = field(default_factory=dict)
    #: Feed -> its new entries past the per-poll cap, published by its next polls.
    deferred_by_feed: dict[str, int] = field(default_factory=dict)
    #: Feed -> remembered entries forgotten for its state to fit its topic (fit_state).
    forgotten_by_feed: dict[str, int] = field(default_factory=dict)


async def _document(
    client: WebClient, url: str, spec: FeedSpec, old: Validators | None, max_bytes: int
) -> tuple[bytes | None, Validators, str | None, str]:
    """(body or None when 304, validators, content type, final URL) of one feed document."""
    want = Want(max_bytes=max_bytes, html_only=False, accept=FEED_ACCEPT)
    page = await client.get(url, want, origin_of(spec.url), old)
    return (None if page.not_modified else page.body), page.validators, page.content_type, page.url


@dataclass
class _IndexRead:
    """What the children of a sitemap index gave in one poll."""

    entries: list[FeedEntry]
    #: Whether a child was left unread (unchanged, failing, or past the cap): the entries it
    #: listed last time are still remembered, not new when it is read again.
    unchanged: bool
    #: The children that failed, each as "URL: why", for the pass's summary.
    skipped: list[str]
    #: Children past the cap, for the next polls.
    left: int
    #: Per child document: its validators, the one read longest ago first (reading_order's
    #: rotation; the index's own are the caller's).
    validators: dict[str, Validators]


async def _poll_sitemap_index(
    client: WebClient,
    spec: FeedSpec,
    state: FeedState,
    children: list[ChildSitemap],
    max_bytes: int,
) -> _IndexRead:
    """Reads an index's children, at most ``MAX_CHILD_SITEMAPS`` documents a poll, in
    reading_order; the next poll starts with those this one left.

    A child may itself be an index (a site's index of yearly indexes): it is read the same
    way, breadth first, each sitemap once (an index listing itself or an ancestor is no
    loop). A child that fails is logged and skipped, not the whole index: a site's index
    often lists a dead or broken sitemap beside the live ones. Only when every child fails
    is the poll a failure. A relative ``<loc>`` is read against its sitemap's final URL.
    """
    read_before = list(state.validators)
    entries: list[FeedEntry] = []
    unchanged = False
    seen = {spec.url}
    listed: set[str] = set()
    read: dict[str, Validators] = {}
    queue = deque(reading_order(children, read_before, state.last_polled_at))
    listed.update(c.url for c in children)
    failures: list[tuple[str, FetchError | SourceError]] = []
    while queue and len(read) < MAX_CHILD_SITEMAPS:
        child = queue.popleft().url
        if child in seen:
            continue
        seen.add(child)
        try:
            body, got, _, final = await _document(
                client, child, spec, state.validators.get(child), max_bytes
            )
            read[child] = got
            if body is None:
                unchanged = True
                continue
            sitemap = parse_sitemap(body, max_bytes, base=final)
        except (FetchError, SourceError) as exc:
            log.warning("%s: child sitemap skipped: %s", spec.url, exc)
            failures.append((child, exc))
            # Tried: it waits its turn behind the others, not first in line for good.
            read[child] = state.validators.get(child) or Validators()
            unchanged = True  # what it listed before is not new when it comes back
            continue
        entries.extend(sitemap.entries)
        listed.update(c.url for c in sitemap.children)
        queue.extend(reading_order(sitemap.children, read_before, state.last_polled_at))
    if failures and len(failures) == len(read):
        raise failures[0][1]
    left = len({c.url for c in queue} - seen)
    if left:
        log.info("%s: %d child sitemap(s) left for the next polls", spec.url, left)
        unchanged = True
    # Those not read this poll keep their place (and validators), ahead of those read now.
    kept = {u: v for u, v in state.validators.items() if u in listed and u not in read}
    # A FetchError's message starts with the URL already; a parse error's does not.
    skipped = [
        str(exc) if exc.message.startswith(child) else f"{child}: {exc}" for child, exc in failures
    ]
    return _IndexRead(entries, unchanged, skipped, left, {**kept, **read})


async def poll_one(
    client: WebClient, spec: FeedSpec, state: FeedState | None, max_bytes: int, max_links: int
) -> FeedPoll:
    """Polls one feed; every failure becomes the poll's error, never an exception.

    At most ``max_links`` new entries are taken (``within_cap``); when some are left, the
    documents' validators are not kept, so the next poll reads them again (a 304 would
    hide the entries left) and takes the next ones.
    """
    state = state or FeedState(feed=spec.url)
    try:
        body, got, content_type, final = await _document(
            client, spec.url, spec, state.validators.get(spec.url), max_bytes
        )
        validators: dict[str, Validators] = {spec.url: got}
        if body is None:
            return FeedPoll(spec, Polled(status=304, validators={**state.validators, **validators}))
        # A document gzipped as a file (feed.xml.gz, sitemap.xml.gz), not by Content-Encoding:
        # inflated within the limit before it is told apart and read.
        body = gunzip(body, max_bytes)
        title: str | None = None
        listing_extra: dict[str, str] = {}
        skipped: list[str] = []
        left = 0
        if looks_like_sitemap(body):
            sitemap = parse_sitemap(body, max_bytes, base=final)
            entries = sitemap.entries
            if sitemap.children:
                index = await _poll_sitemap_index(client, spec, state, sitemap.children, max_bytes)
                entries, skipped, left = index.entries, index.skipped, index.left
                validators.update(index.validators)
                if left:
                    # Asked without validators next time: an unchanged index answering 304
                    # would stop the rotation until the site changed it.
                    validators[spec.url] = Validators()
                if index.unchanged:
                    listing_extra = state.seen  # the unread children still list these
        else:
            headers = {"content-location": final}
            if content_type:
                headers["content-type"] = content_type
            parsed = parse_feed(body, headers)
            entries, title = parsed.entries, parsed.title
        fresh, listing = fresh_entries(state.seen, entries)
        fresh, listing, deferred = within_cap(fresh, listing, state.seen, max_links)
        if deferred:
            log.info(
                "%s: %d new entries left for the next polls (at most %d a poll)",
                spec.url,
                deferred,
                max_links,
            )
            # Asked without validators next time (a 304 would hide the entries left), but
            # each document keeps its place: the order of the child sitemaps' rotation.
            validators = {url: Validators() for url in validators}
        merged = {**listing, **{k: v for k, v in listing_extra.items() if k not in listing}}
        merged = dict(list(merged.items())[:MAX_LISTING])
        polled = Polled(status=200, new=len(fresh), validators=validators, listing=merged)
        return FeedPoll(spec, polled, fresh, title, skipped, left, deferred)
    except (FetchError, SourceError) as exc:
        log.warning("%s: %s", spec.url, exc)
        return FeedPoll(spec, Polled(status=None, error=str(exc)))


def read_states(settings: Settings) -> dict[str, FeedState]:
    """Every feed's last state, from the compacted feed-state topic."""
    states: dict[str, FeedState] = {}
    for key, value in read_table(settings, settings.topics.feed_state).items():
        try:
            states[key.decode()] = FeedState.model_validate_json(value)
        except (ValidationError, UnicodeDecodeError):
            log.warning("unreadable feed state under key %r; polling that feed afresh", key)
    return states


def _publish(
    settings: Settings, producer: KafkaProducer, result: FeedPoll, summary: PollSummary
) -> bool:
    """Sends one feed's links (or summaries); True once the broker acknowledged them all."""
    links: Outbox[Link] = Outbox(producer, settings.topics.links)
    raws: Outbox[str] = Outbox(producer, settings.topics.raw)
    for fresh in result.fresh:
        link = link_for(fresh, result.spec, result.title)
        if settings.crawl.fetch_pages:
            links.send(link, link.url.encode(), link.model_dump_json().encode())
            continue
        article = summary_article(link)
        if article is None:
            summary.without_text += 1
            continue
        raws.send(article.id, article.id.encode(), encode_raw(article))
    sent_links, sent_raws = links.settle(timeout=60), raws.settle(timeout=60)
    failed = [*sent_links.failed, *sent_raws.failed]
    if failed:
        log.warning("%s: %d messages not acknowledged: %s", result.spec.url, len(failed), failed[0])
        return False
    summary.links += len(sent_links.acked)
    summary.summaries += len(sent_raws.acked)
    return True


def _record(
    settings: Settings,
    producer: KafkaProducer,
    result: FeedPoll,
    state: FeedState | None,
    now: datetime,
    summary: PollSummary,
    state_limit: int,
) -> None:
    """Publishes one polled feed: its links first, then, once they are acknowledged, its state
    (within ``state_limit`` bytes: see fit_state)."""
    summary.polled += 1
    if result.polled.status == 304:
        summary.not_modified += 1
    summary.skipped_children.extend((result.spec.url, child) for child in result.skipped)
    if result.left:
        summary.children_left.append((result.spec.url, result.left))
    if result.polled.error:
        summary.failed.append((result.spec.url, result.polled.error))
    elif not _publish(settings, producer, result, summary):
        # Not remembered as seen: the next pass publishes these entries again.
        summary.failed.append((result.spec.url, "links not acknowledged by Kafka"))
        return
    summary.new_by_feed[result.spec.url] = len(result.fresh)
    if result.deferred:
        summary.deferred_by_feed[result.spec.url] = result.deferred
    new_state = after_poll(state, result.spec, result.polled, now, settings.crawl)
    new_state, forgotten = fit_state(new_state, state_limit - len(result.spec.url.encode()))
    if forgotten:
        log.warning(
            "%s: %d of its entries forgotten for its state to fit %s; listed again, they are "
            "published again",
            result.spec.url,
            forgotten,
            settings.topics.feed_state,
        )
        summary.forgotten_by_feed[result.spec.url] = forgotten
    state_box: Outbox[str] = Outbox(producer, settings.topics.feed_state)
    try:
        state_box.send(
            result.spec.url, result.spec.url.encode(), new_state.model_dump_json().encode()
        )
    except KafkaError as refused:  # at once: the pass goes on with the other feeds
        log.warning(
            "%s: state not saved (%s); it is polled afresh next time", result.spec.url, refused
        )
        return
    for feed, exc in state_box.settle(timeout=60).failed:
        log.warning("%s: state not saved (%s); it is polled afresh next time", feed, exc)


async def _poll_and_publish(
    settings: Settings,
    producer: KafkaProducer,
    due: list[FeedSpec],
    states: dict[str, FeedState],
    robots: RobotsCache | None,
    now: datetime,
    summary: PollSummary,
    state_limit: int,
) -> None:
    """Polls the due feeds, many at once, and publishes each as soon as its poll ends.

    One slow feed delays no other feed's links, a crash loses only the feeds not published
    yet, and a feed's entries are dropped once published (a pass over thousands of feeds
    held every feed's entries, full content included, until the last one answered). The
    publishing runs in a thread, one feed at a time, so the other polls go on meanwhile.

    At most ``max_connections`` polls run at once (with thousands of feeds started together,
    the ones at the back of the queue once failed as fetch_timeout without being asked, and
    each poll holds its document meanwhile). They start host by host, so one site's many
    feeds, waiting for their politeness turns, do not take every slot.
    """
    todo = iter(host_by_host(due))
    pending: set[asyncio.Task[FeedPoll]] = set()
    async with WebClient(settings.crawl, settings.limits, robots) as client:

        def start_more() -> None:
            for spec in islice(todo, settings.crawl.max_connections - len(pending)):
                state, crawl = states.get(spec.url), settings.crawl
                polling = poll_one(
                    client, spec, state, crawl.max_feed_bytes, crawl.max_links_per_poll
                )
                pending.add(asyncio.create_task(polling))

        try:
            start_more()
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                start_more()  # before publishing: the next polls go on meanwhile
                for task in done:
                    result = task.result()
                    await asyncio.to_thread(
                        _record,
                        settings,
                        producer,
                        result,
                        states.get(result.spec.url),
                        now,
                        summary,
                        state_limit,
                    )
        finally:
            # Kafka failed under us (or Ctrl-C): the polls still running end here, inside
            # the client's life; their feeds are polled again next time.
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def poll_feeds(
    settings: Settings,
    feeds: list[FeedSpec],
    *,
    force: bool = False,
    now: datetime | None = None,
    robots: RobotsCache | None = None,
) -> PollSummary:
    """Polls the feeds that are due (all of them with ``force``) and publishes what is new,
    each feed as soon as its poll ends.

    ``robots``: the robots.txt rules to keep from one pass to the next (a long-running
    poller), so a site's are fetched once per their time to live, not on every pass.

    Returns what happened; a feed that fails is counted and retried later with backoff, it
    never stops the pass. Raises only when Kafka itself cannot be reached.
    """
    ensure_topics(settings)
    now = now or datetime.now(UTC)
    states = read_states(settings)
    due = [spec for spec in feeds if force or is_due(states.get(spec.url), now)]
    summary = PollSummary(not_due=len(feeds) - len(due))
    if not due:
        return summary
    # A state over the topic's own limit would be refused by the broker, which fails the
    # producer for good (newsflow.kafka.topics.message_limit); over the producer's, at once.
    state_limit = (
        min(settings.limits.max_message_bytes, message_limit(settings, settings.topics.feed_state))
        - STATE_RECORD_OVERHEAD
    )
    producer = make_producer(settings)
    try:
        asyncio.run(
            _poll_and_publish(settings, producer, due, states, robots, now, summary, state_limit)
        )
    finally:
        producer.close(timeout=10)
    return summary
