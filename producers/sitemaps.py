"""Sitemaps: a news sitemap's URLs as feed entries, a sitemap index's child sitemaps.

Covers the sitemap protocol (``<urlset>`` of ``<url><loc>``, ``<lastmod>``), Google News
sitemaps (``<news:news>``: title, publication date, publication name and language) and
sitemap indexes (``<sitemapindex>`` of child ``<sitemap><loc>``), gzipped or not.

The XML is parsed with defusedxml: a DTD, an entity declaration or an external reference is
refused outright, so a hostile sitemap can neither expand itself (billion laughs) nor make
the parser read local files or the network (XXE). Nothing here fetches anything: the poller
fetches the documents and hands their bytes in.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from defusedxml import ElementTree

from newsflow.reading.files import gunzip
from producers.sources.feed import FeedEntry
from schemas.failures import SourceError
from schemas.reasons import ProduceReason

_GZIP_MAGIC = b"\x1f\x8b"
_UTF8_BOM = b"\xef\xbb\xbf"
#: Bytes of a document's start searched for a sitemap's root element.
_HEAD = 2048
_SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
_NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"


@dataclass(frozen=True)
class ChildSitemap:
    """A sitemap an index points to, with the date the index says it last changed."""

    url: str
    lastmod: str = ""


@dataclass
class Sitemap:
    """What one sitemap document holds: page entries (a urlset) or child sitemaps (an index)."""

    entries: list[FeedEntry] = field(default_factory=list)
    children: list[ChildSitemap] = field(default_factory=list)


def looks_like_sitemap(data: bytes) -> bool:
    """Whether a (possibly gzipped) document is a sitemap rather than an RSS or Atom feed."""
    head = data[:_HEAD]
    if data.startswith(_GZIP_MAGIC):
        # Its first bytes inflated, not assumed: a feed is gzipped as a file (feed.xml.gz,
        # served as application/gzip) as well as a sitemap is.
        try:
            head = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16).decompress(data, _HEAD)
        except zlib.error:
            return False
    return b"<urlset" in head or b"<sitemapindex" in head or b":urlset" in head


def _local(tag: Any) -> str:
    """A tag without its namespace ("{ns}loc" -> "loc")."""
    return str(tag).rsplit("}", 1)[-1]


def _text(element: Any, name: str, namespace: str = _SITEMAP_NS) -> str:
    found = element.find(f"{{{namespace}}}{name}")
    if found is None:
        found = element.find(name)  # sitemaps written without the namespace
    return (found.text or "").strip() if found is not None else ""


def _loc(element: Any, base: str | None) -> str:
    """An element's ``<loc>``, a relative one resolved against the sitemap's own URL.

    The protocol wants absolute URLs, but CMS plugins write ``/news/x.html``, and search
    engines read it against the sitemap's URL; dropped, such a sitemap's news went missing
    without a word.
    """
    loc = _text(element, "loc")
    return urljoin(base, loc) if loc and base else loc


def _news_entry(url: Any, base: str | None) -> FeedEntry | None:
    loc = _loc(url, base)
    if not loc:
        return None
    lastmod = _text(url, "lastmod")
    metadata: dict[str, str] = {}
    language: str | None = None
    news = url.find(f"{{{_NEWS_NS}}}news")
    if news is not None:
        title = _text(news, "title", _NEWS_NS)
        published = _text(news, "publication_date", _NEWS_NS)
        if title:
            metadata["title"] = title
        if published:
            metadata["published"] = published
        publication = news.find(f"{{{_NEWS_NS}}}publication")
        if publication is not None:
            name = _text(publication, "name", _NEWS_NS)
            if name:
                metadata["site"] = name
            language = _text(publication, "language", _NEWS_NS) or None
    if lastmod and "published" not in metadata:
        metadata["published"] = lastmod
    # A news sitemap entry carries no text of its own: only its title can stand in for it.
    return FeedEntry(
        link=loc,
        html="",
        metadata=metadata,
        version=lastmod or metadata.get("published", ""),
        language=language,
    )


def parse_sitemap(data: bytes, max_bytes: int, base: str | None = None) -> Sitemap:
    """The entries or children of a sitemap document; SourceError(invalid-feed) if it is not
    one (or holds a DTD or entities). ``base``: the URL the document was read from, which a
    relative ``<loc>`` is resolved against (without it, such a loc is kept as written)."""
    try:
        xml = gunzip(data, max_bytes)
        # Blank lines before the XML declaration (a CMS template's stray newline) are a
        # fatal error to expat, while feed readers and search engines read such a sitemap.
        xml = xml.removeprefix(_UTF8_BOM).lstrip()
        root = ElementTree.fromstring(xml, forbid_dtd=True)
    except SourceError:
        raise
    except Exception as exc:  # defusedxml's refusals and expat's parse errors alike
        raise SourceError(ProduceReason.INVALID_FEED, f"not a usable sitemap: {exc}") from None
    kind = _local(root.tag)
    sitemap = Sitemap()
    if kind == "sitemapindex":
        for child in root:
            if _local(child.tag) == "sitemap":
                loc = _loc(child, base)
                if loc:
                    sitemap.children.append(ChildSitemap(loc, _text(child, "lastmod")))
    elif kind == "urlset":
        for url in root:
            if _local(url.tag) == "url":
                entry = _news_entry(url, base)
                if entry is not None:
                    sitemap.entries.append(entry)
    else:
        raise SourceError(ProduceReason.INVALID_FEED, f"<{kind}> is not a sitemap")
    return sitemap


def timestamp_of(stamp: str) -> float:
    """An ISO 8601 date or time (a lastmod, an entry's version) as a timestamp; -inf if it
    is none, so that undated things sort after dated ones."""
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return float("-inf")
    if when.tzinfo is None:  # a date alone, or a time without its zone: read as UTC
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def reading_order(
    children: list[ChildSitemap], read_before: Sequence[str], last_poll: datetime | None
) -> list[ChildSitemap]:
    """An index's children in the order a poll reads them (it reads a bounded number).

    First those the index dates after the last poll (changed since: today's articles),
    newest first; then those not read before, newest first (many indexes list theirs oldest
    first, post-sitemap1.xml … post-sitemap40.xml: read in index order, the child that holds
    today's articles would never be reached); then the rest, the one read longest ago
    first. ``read_before``: the children read in earlier polls, the one read longest ago
    first. Read newest first alone, an index of more children than a poll reads, undated (or
    dated alike), had the same ones read on every poll and the others never: now each poll
    goes on where the last one stopped. Among equals the index's order holds (the sort is
    stable).
    """
    rank = {url: n for n, url in enumerate(read_before)}
    since = last_poll.timestamp() if last_poll is not None else float("inf")

    def key(child: ChildSitemap) -> tuple[int, float, int]:
        when = timestamp_of(child.lastmod)
        if when > since:
            # A CMS that dates every child "now" leaves them all here: they still rotate.
            return (0, -when, rank.get(child.url, -1))
        if child.url not in rank:
            return (1, -when, 0)
        return (2, 0.0, rank[child.url])

    return sorted(children, key=key)
