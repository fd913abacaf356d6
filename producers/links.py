"""From a feed entry to a Link, and from a Link to the RawArticle that stands for it.

A page's RawArticle and its summary's share one id (the hash of the link's canonical URL),
so the full page replaces the summary in the index instead of sitting beside it.
"""

from __future__ import annotations

from newsflow.reading.document import raw_document
from newsflow.reading.identity import article_id, site_of
from producers.feeds import FeedSpec
from producers.schedule import Fresh
from schemas.article import ContentType, RawArticle
from schemas.crawl import SUMMARY_ONLY, Link


def link_for(fresh: Fresh, spec: FeedSpec, feed_title: str | None) -> Link:
    """The Link announcing a new (or updated) entry of the feed ``spec``."""
    entry = fresh.entry
    return Link(
        url=fresh.url,
        feed=spec.url,
        title=entry.title,
        published=entry.published,
        updated=fresh.updated,
        summary=entry.html.strip() or None,
        feed_title=feed_title,
        site=spec.site or entry.metadata.get("site"),
        feed_site=spec.site,
        language=entry.language or spec.language,
    )


def _metadata(link: Link) -> dict[str, str]:
    values = {
        "title": link.title,
        "published": link.published,
        "feed": link.feed,
        "feed_title": link.feed_title,
        "site": link.site,
        "language": link.language,
    }
    return {key: value for key, value in values.items() if value}


def summary_article(link: Link) -> RawArticle | None:
    """The entry's own text as an article marked as a summary; None if it has no text.

    The text is the feed's, so a link to another host is attributed to the feed's site (the
    name the feeds file gives it, else its host): any feed could otherwise publish "Reuters"
    stories under reuters.com URLs that do not exist, found by `search --site reuters.com`
    (security review; the search's URL match leaves summaries out, newsflow/search.py). The
    page, once fetched, replaces the summary with its own site.
    """
    if not link.summary:
        return None
    metadata = {**_metadata(link), SUMMARY_ONLY: "true"}
    feed_site = site_of(link.feed)
    if feed_site and site_of(link.url) != feed_site:
        metadata["site"] = link.feed_site or feed_site
    return RawArticle(
        id=article_id(link.url, link.summary),
        source=link.feed,
        url=link.url,
        content_type=ContentType.HTML,
        body=link.summary.encode("utf-8"),
        encoding="utf-8",
        metadata=metadata,
    )


def page_article(link: Link, body: bytes, charset: str | None, final_url: str) -> RawArticle:
    """The fetched page as a RawArticle, with what the feed said about it as metadata."""
    metadata = _metadata(link)
    if final_url != link.url:
        metadata["final_url"] = final_url
    return raw_document(
        body,
        source=link.feed,
        content_type=ContentType.HTML,
        url=link.url,
        declared=charset,
        metadata=metadata,
    )
