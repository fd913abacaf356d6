"""One document's bytes to a RawArticle: its declared encoding, its URL and its stable id.

Every path that turns a single document into a message comes through here (a text or HTML
file, a web archive record, `newsflow clean FILE`), so the same bytes always get the same
id, whichever command reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from newsflow.reading.decode import declared_encoding, decode_for_id
from newsflow.reading.identity import article_id, url_from_html
from schemas.article import ContentType, RawArticle, safe_link


def document_text(data: bytes, content_type: ContentType, declared: str | None = None) -> str:
    """The text a document is identified by (decoded as it declares, without detection)."""
    html = content_type == ContentType.HTML
    return decode_for_id(data, declared_encoding(data, declared, html=html))


def raw_document(
    data: bytes,
    *,
    source: str,
    content_type: ContentType,
    url: str | None = None,
    declared: str | None = None,
    metadata: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
) -> RawArticle:
    """The RawArticle for one document's bytes.

    An HTML page without a given ``url`` takes its own from ``<link rel=canonical>`` or
    ``og:url``; the id hashes that URL, else the document's text. ``declared`` is a charset
    the transport named (an HTTP header).
    """
    html = content_type == ContentType.HTML
    encoding = declared_encoding(data, declared, html=html)
    # A WARC record's target may be any URI (javascript:, dns:); such a one is no link.
    url = safe_link(url)
    if html and url is None:
        url = url_from_html(data)
    return RawArticle(
        id=article_id(url, decode_for_id(data, encoding)),
        source=source,
        url=url,
        content_type=content_type,
        body=data,
        encoding=encoding,
        metadata=dict(metadata or {}),
        fetched_at=fetched_at or datetime.now(UTC),
    )
