"""Producers: read articles from files, folders, feeds and web archives and publish them raw.

``source_for`` picks the source for a path or URL; ``publish`` sends sources to the raw topic.
"""

from newsflow.reading.identity import article_id, canonical_url, url_from_html
from producers.publish import PublishSummary, messages, publish
from producers.sources import Rejected, RejectReason, Source, SourceError, source_for

__all__ = [
    "PublishSummary",
    "RejectReason",
    "Rejected",
    "Source",
    "SourceError",
    "article_id",
    "canonical_url",
    "messages",
    "publish",
    "source_for",
    "url_from_html",
]
