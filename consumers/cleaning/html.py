"""The HTML-mode extractor: the article's paragraphs and metadata from one HTML page.

Built on trafilatura (the strongest open extractor measured on our corpus) with our own
guards and metadata handling around it. Pathological input is defused before parsing:

- size is capped (``MAX_HTML_CHARS``; ``clean()`` applies Settings.max_input_bytes first);
- runs of hundreds of directly nested container tags are collapsed by a linear regex pass,
  so the page still yields its text (libxml2 itself stops at depth 256 without huge_tree,
  which would silently drop everything deeper);
- lxml is never asked for ``huge_tree``, so libxml2's own limits on depth and text node
  size stay on.

None of this needs a timer: every step is linear in the (capped) input. The per-message
wall-clock limit (Settings.clean_timeout_seconds) is enforced by the consumer loop.
"""

from __future__ import annotations

import re
from datetime import datetime

from trafilatura import bare_extraction

from consumers.cleaning.model import CleanError, Extracted
from consumers.cleaning.normalize import normalize_paragraphs, normalize_text

MAX_HTML_CHARS = 5_000_000
# How many directly nested opening (or closing) tags in a row count as pathological.
_DEEP_RUN = 100
_CONTAINERS = (
    r"(?:div|span|font|b|i|u|em|strong|section|article|table|tbody|tr|td|ul|ol|li|p|a"
    r"|center|blockquote)"
)
_DEEP_OPEN = re.compile(rf"(?:<{_CONTAINERS}\b[^<>]{{0,200}}>\s*){{{_DEEP_RUN},}}", re.IGNORECASE)
_DEEP_CLOSE = re.compile(rf"(?:</{_CONTAINERS}\s*>\s*){{{_DEEP_RUN},}}", re.IGNORECASE)
# Attribute values longer than this (inline data: URIs, serialized state) are blanked: they
# are never article text and make every later step slower.
_HUGE_ATTR = re.compile(r"""(=\s*)("[^"]{20000,}"|'[^']{20000,}')""")

EXTRACTOR = "trafilatura"


def defuse(html: str) -> str:
    """The page with pathological constructs (deep tag runs, huge attributes) flattened."""
    if len(html) > MAX_HTML_CHARS:
        raise CleanError("too_large", f"{len(html)} characters is over {MAX_HTML_CHARS}")
    if _DEEP_OPEN.search(html):
        html = _DEEP_OPEN.sub("<div>", html)
        html = _DEEP_CLOSE.sub("</div>", html)
    if len(html) > 100_000 and _HUGE_ATTR.search(html):
        html = _HUGE_ATTR.sub(r'\1""', html)
    return html


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _split_authors(value: str | None) -> list[str]:
    if not value:
        return []
    return [name for name in (normalize_text(a) for a in value.split(";")) if name]


def extract_html(html: str, url: str | None = None) -> Extracted:
    """The article in an HTML page: main-text paragraphs in reading order plus metadata.

    Raises CleanError("no_article_text") when no article text is found.
    """
    html = defuse(html)
    if not html.strip():
        raise CleanError("empty", "no HTML")
    doc = bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
    )
    if doc is None or isinstance(doc, dict) or not doc.text:
        raise CleanError("no_article_text", "no main text found in the HTML")
    paragraphs = normalize_paragraphs(doc.text.split("\n"))
    if not paragraphs:
        raise CleanError("no_article_text", "no main text found in the HTML")
    return Extracted(
        paragraphs=paragraphs,
        title=normalize_text(doc.title) if doc.title else None,
        authors=_split_authors(doc.author),
        published_at=_parse_date(doc.date),
        site=normalize_text(doc.sitename) if doc.sitename else None,
        canonical_url=doc.url or url,
        description=normalize_text(doc.description) if doc.description else None,
        image=doc.image,
        extractor=EXTRACTOR,
    )
