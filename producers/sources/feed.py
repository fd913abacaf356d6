"""RSS and Atom feeds, from a file or an http(s) URL: one HTML article per entry.

``parse_feed`` is the one reading of a feed document: the ``Feed`` source here and the
crawler's poller (producers/poller.py) both take their entries from it.
"""

from __future__ import annotations

import asyncio
import calendar
import html as html_module
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser

from newsflow.reading.decode import whole_chars
from newsflow.reading.files import gunzip, path_text, read_input
from newsflow.reading.http import is_url
from newsflow.reading.identity import article_id, site_of
from newsflow.settings import CrawlSettings, Limits
from newsflow.web.addresses import origin_of
from newsflow.web.client import FEED_ACCEPT, Page, Want, WebClient
from producers.sources.base import Rejected, require_text
from schemas.article import ContentType, RawArticle, safe_link, without_userinfo
from schemas.crawl import SUMMARY_ONLY
from schemas.failures import FetchError, SourceError, describe
from schemas.reasons import FetchReason, ProduceReason


def _struct_time_iso(value: Any) -> str | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class FeedEntry:
    """One entry of a feed (or URL of a sitemap): its link, text and what it says about itself."""

    link: str | None
    #: The entry's full content, else its summary: an HTML fragment (may be empty).
    html: str
    #: What the entry says about itself: title, author, guid, published (ISO 8601).
    metadata: dict[str, str]
    #: What tells one version of the entry from the next: its updated date, else published.
    version: str = ""
    language: str | None = None

    @property
    def title(self) -> str | None:
        return self.metadata.get("title")

    @property
    def published(self) -> str | None:
        return self.metadata.get("published")


@dataclass(frozen=True)
class ParsedFeed:
    """An RSS or Atom feed's title and entries, in the feed's order."""

    title: str | None
    entries: list[FeedEntry]


_TAG = re.compile(r"<[^>]*>")
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def _plain_title(item: Any) -> str | None:
    """An entry's or feed's title as plain text.

    feedparser hands a title over as the feed typed it: an Atom ``type="html"`` title, or an
    RSS title it takes for HTML (most CDATA ones), keeps its markup and character references,
    and "Don&#8217;t <b>miss</b>" was indexed and printed as such.
    """
    title = _text(item.get("title"))
    if title is None:
        return None
    detail = item.get("title_detail") or {}
    if detail.get("type") in _HTML_TYPES:
        title = html_module.unescape(_TAG.sub("", title))
    return " ".join(title.split()) or None


def _text(value: Any) -> str | None:
    """A feed's string as text every message can carry (``&#xD800;`` parses to half a
    character), or None for anything else."""
    return whole_chars(value) if isinstance(value, str) else None


def _entry(entry: Any) -> FeedEntry:
    contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
    html = _text(max(contents, key=len) if contents else entry.get("summary")) or ""
    metadata: dict[str, str] = {}
    title = _plain_title(entry)
    if title:
        metadata["title"] = title
    for key in ("author", "id"):
        value = _text(entry.get(key))
        if value:
            metadata["guid" if key == "id" else key] = value
    stamps: dict[str, str] = {}
    for key in ("published", "updated"):
        if key not in entry:
            continue
        iso = _struct_time_iso(entry.get(f"{key}_parsed"))
        value = iso or _text(entry.get(key))
        if value:
            stamps[key] = value
            metadata.setdefault("published", value)
    return FeedEntry(
        link=_text(entry.get("link")) or None,
        html=html,
        metadata=metadata,
        version=stamps.get("updated") or stamps.get("published") or "",
    )


# An entity declaration of a feed's DTD, general or parameter, with its quoted value if any.
# Every repetition ends at a delimiter, and the first one refused ends the search, so this
# stays linear on a hostile document.
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY\s+(%\s*)?([^\s\"'>]*)\s*(\"[^\"]*\"|'[^']*')?")
# What a feed may declare an entity as: one character, by reference or literally (at most
# four bytes, one UTF-8 character): `<!ENTITY nbsp "&#160;">`, HTML's names in XML.
_ONE_CHARACTER = re.compile(rb"&#(?:[0-9]{1,7}|x[0-9a-fA-F]{1,6});|[^&%]{1,4}")


def expanding_entity(data: bytes) -> str | None:
    """The name of an entity the feed declares as more than one character, or None.

    feedparser keeps a DTD's entities of literal text and expands every reference to them,
    and its fallback parser does so without any limit: a 0.2 MB feed declaring one 200 KB
    entity and referring to it 400 times became 82 MB of entry text and took 300 MB and
    3.8 s to read; at the 5 MB input limit it is terabytes. An entity of several characters
    (or one of others, or a parameter or external entity) is not something a news feed
    needs, so such a feed is refused instead. UTF-16 and UTF-32 feeds are searched with
    their NUL bytes removed, which turns their ASCII into plain bytes.
    """
    text = data.replace(b"\x00", b"") if b"\x00" in data else data
    for match in _ENTITY_DECLARATION.finditer(text):
        parameter, name, value = match.groups()
        if parameter is not None or value is None or not _ONE_CHARACTER.fullmatch(value[1:-1]):
            return name[:40].decode("utf-8", "replace") or "(unnamed)"
    return None


def parse_feed(data: bytes, headers: dict[str, str] | None = None) -> ParsedFeed:
    """The entries of an RSS or Atom document; SourceError(invalid-feed) if it is neither,
    or if it declares an entity that expands to more than one character.

    ``headers`` are the HTTP response's (content-location resolves relative links,
    content-type names the charset). feedparser reads XML with external entities off.
    """
    entity = expanding_entity(data)
    if entity is not None:
        detail = (
            f"declares the XML entity {entity!r} (only one-character entities are read: "
            "expanding others can make a small feed gigabytes)"
        )
        raise SourceError(ProduceReason.INVALID_FEED, detail)
    # A stream, not bytes or str: feedparser treats a string argument as a URL or path.
    try:
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers or {})
    except ValueError as exc:
        # feedparser's fallback (loose) parser raises on a character reference to half a
        # surrogate pair ("&#xD800;"), which stopped a whole `newsflow produce` run.
        raise SourceError(ProduceReason.INVALID_FEED, describe(exc)) from None
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        detail = describe(problem) if problem else "no RSS/Atom feed found"
        raise SourceError(ProduceReason.INVALID_FEED, detail)
    return ParsedFeed(
        title=_plain_title(parsed.feed), entries=[_entry(entry) for entry in parsed.entries]
    )


def fetch_feed(url: str, limits: Limits, crawl: CrawlSettings) -> Page:
    """GETs a feed the way the crawler does (newsflow.web.client): robots.txt asked, every
    hop's address checked (no private address unless allowed, and then only the feed's own
    origin), retries with backoff, time and size limits. Raises SourceError."""

    async def get() -> Page:
        async with WebClient(crawl, limits) as client:
            want = Want(max_bytes=limits.max_input_bytes, html_only=False, accept=FEED_ACCEPT)
            return await client.get(url, want, origin_of(url))

    try:
        return asyncio.run(get())
    except FetchError as exc:
        reason = (
            ProduceReason.OVERSIZED
            if exc.reason is FetchReason.TOO_LARGE
            else ProduceReason.FETCH_FAILED
        )
        raise SourceError(reason, f"{exc.reason}: {exc.message}") from None


@dataclass(frozen=True)
class Feed:
    """An RSS or Atom feed, from a file or an http(s) URL: one HTML article per entry.

    The entry's full content (else its summary) is the body and its link is the URL; title,
    published date and feed title go into metadata. The article is marked as a summary, as
    the crawler marks an entry's text when it cannot have the page: its page is not fetched
    here, so its text must never replace that page in the index (the index sink keeps the
    page), and a later crawl of the link replaces it with the page.
    """

    location: str
    limits: Limits
    #: How a feed URL is fetched (the crawler's rules); None: from NEWSFLOW_CRAWL_*.
    crawl: CrawlSettings | None = None

    @property
    def name(self) -> str:
        """The feed's URL, or its file's path as message text (see ``path_text``)."""
        return self.location if is_url(self.location) else path_text(self.location)

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one article per entry with content, and a Rejected per unusable entry."""
        headers: dict[str, str] = {}
        try:
            if is_url(self.location):
                page = fetch_feed(self.location, self.limits, self.crawl or CrawlSettings())
                # A feed gzipped as a file (feed.xml.gz), as a file path's is by read_input.
                data = gunzip(page.body, self.limits.max_input_bytes)
                # Lets feedparser resolve relative links and honour the declared charset.
                headers["content-location"] = page.url
                if page.content_type:
                    headers["content-type"] = page.content_type
            else:
                data = read_input(Path(self.location), self.limits.max_input_bytes)
            require_text(data)
            parsed = parse_feed(data, headers)
        except SourceError as exc:
            yield Rejected.from_error(self.name, exc)
            return
        for index, entry in enumerate(parsed.entries):
            yield self._article(entry, index, parsed.title)

    def _article(
        self, entry: FeedEntry, index: int, feed_title: str | None
    ) -> RawArticle | Rejected:
        if not entry.html.strip():
            label = entry.link or entry.title or f"entry {index}"
            return Rejected(
                f"{self.name}#{index}", ProduceReason.EMPTY, f"{label}: no content or summary"
            )
        metadata = dict(entry.metadata)
        if feed_title:
            metadata["feed_title"] = feed_title
        metadata["feed"] = without_userinfo(self.name)
        metadata[SUMMARY_ONLY] = "true"
        feed_host = site_of(self.location) if is_url(self.location) else None
        if feed_host and entry.link and site_of(entry.link) != feed_host:
            # The text is the feed's, not the linked site's (as producers/links.py does).
            metadata["site"] = feed_host
        # A feed item may link anywhere (javascript:); such a link is not stored.
        link = safe_link(entry.link)
        return RawArticle(
            id=article_id(link, entry.html),
            source=self.name,
            url=link,
            content_type=ContentType.HTML,
            body=entry.html.encode("utf-8"),
            encoding="utf-8",
            metadata=metadata,
        )
