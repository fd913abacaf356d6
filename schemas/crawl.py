"""The crawler's messages: Link (a page to fetch) and FeedState (what a feed's poller knows).

``Link`` travels on the links topic, keyed by its canonical URL, from the poller to the fetch
workers. ``FeedState`` lives on the feed-state topic, keyed by the feed's URL; that topic is
compacted, so it keeps the latest state of every feed for good: conditional-GET validators,
the schedule, and the entries already seen, which is what lets a restarted poller (or the
next Airflow task, on another machine) send If-None-Match and publish only what is new.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.article import SCHEMA_VERSION, DataUrl, _now

#: The RawArticle metadata key (value "true") that marks a feed entry's own text standing in
#: for its page; the Article made from it has ``summary_only`` set.
SUMMARY_ONLY = "summary_only"


class Link(BaseModel):
    """A page a feed or sitemap announced, with what the entry itself said about it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    url: DataUrl = Field(description="Canonical URL (tracking parameters dropped); also the key")
    feed: DataUrl = Field(description="The feed or sitemap, as listed in the feeds file")
    title: str | None = None
    published: str | None = Field(default=None, description="ISO 8601, as the entry gave it")
    updated: bool = Field(
        default=False,
        description="The entry changed since it was last seen: fetch it even if indexed",
    )
    summary: str | None = Field(
        default=None,
        description="The entry's own text (an HTML fragment): indexed, marked as a summary, "
        "when the page cannot be fetched",
    )
    feed_title: str | None = None
    site: str | None = Field(default=None, description="Site name from the feeds file")
    feed_site: str | None = Field(
        default=None,
        description="The feeds file's name for the feed's site only (what a summary of a link "
        "to another host is attributed to)",
    )
    language: str | None = Field(default=None, description="Language hint from the feeds file")
    discovered_at: datetime = Field(default_factory=_now)
    attempts: int = Field(
        default=0,
        description="Times it went back to the links topic unfinished (a full batch) or "
        "deferred (its site's robots.txt unavailable)",
    )
    not_before: datetime | None = Field(
        default=None,
        description="Deferred: a fetch worker does not fetch it before this time",
    )


class Validators(BaseModel):
    """What a server said about a document, to ask it next time whether it changed."""

    etag: str | None = None
    last_modified: str | None = None


class FeedState(BaseModel):
    """Everything the poller remembers about one feed between polls."""

    schema_version: Literal[1] = SCHEMA_VERSION
    feed: DataUrl = Field(description="The feed's URL as listed in the feeds file; also the key")
    #: Per document URL: the feed itself, and each child sitemap of a sitemap index.
    validators: dict[str, Validators] = Field(default_factory=dict)
    last_polled_at: datetime | None = None
    next_poll_at: datetime | None = None
    errors: int = Field(default=0, description="Failed polls in a row")
    unchanged: int = Field(default=0, description="Polls in a row that brought nothing new")
    last_status: int | None = None
    last_error: str | None = None
    #: Entry URL -> what identifies its version (updated or published date, else "").
    seen: dict[str, str] = Field(default_factory=dict)
