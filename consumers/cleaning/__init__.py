"""Cleaning stage: RawArticle bytes in, the article's paragraphs and metadata out.

Public API (pure functions; no I/O except ``clean_file``/``raw_from_file``, which read the
path they are given):

- ``clean(raw, limits) -> Extracted``: size check, decode, dispatch by content type,
  normalize; raises ``CleanError`` with a machine-readable ``reason``
  ("empty", "binary", "too_large", "bad_json", "no_article_text").
- ``to_article(raw, extracted, tags) -> Article``: the indexable document, with content hash,
  SimHash and MinHash.
- ``clean_file(path, fmt)`` / ``raw_from_file(path, fmt)``: the same for a local file,
  read as the producers read it (newsflow.reading: bounded, ``.gz`` read transparently), so
  ``newsflow clean FILE`` and ``newsflow produce FILE`` give the file the same id.

Time limits: the input is capped at ``Limits.max_input_bytes`` before decoding, and a page
at ``html.MAX_ELEMENTS`` once parsed (trafilatura is quadratic in a table row's cells; our
own steps are linear), so a call ends within seconds; in the pipeline, the wall-clock limit
per message (``Limits.clean_timeout_seconds``, reason "timeout") is enforced by the child
process the stage runs in (consumers/runner.py), which is killed when it overruns.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from consumers.cleaning.fragment import extract_fragment, is_fragment
from consumers.cleaning.html import extract_html
from consumers.cleaning.model import Extracted
from consumers.cleaning.text import extract_text
from newsflow.normalize import (
    content_hash,
    normalize_paragraphs,
    normalize_text,
    split_paragraphs,
)
from newsflow.reading.decode import decode_body, whole_chars
from newsflow.reading.document import raw_document
from newsflow.reading.files import path_text, read_input
from newsflow.settings import Limits
from newsflow.similarity import minhash, simhash
from schemas.article import Article, ContentType, Extraction, RawArticle, Tags, safe_link
from schemas.failures import CleanError, json_problem
from schemas.reasons import CleanReason

__all__ = [
    "CleanError",
    "Extracted",
    "clean",
    "clean_file",
    "extract_html",
    "extract_text",
    "looks_like_html",
    "raw_from_file",
    "to_article",
]

# Markup that only an HTML document has; a plain-text article quoting "<b>" does not match.
_HTML_START = re.compile(
    r"\A\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)
_HTML_TAG = re.compile(r"</?(?:p|div|span|a|br|li|ul|h[1-6]|table|td|tr|img|section)\b[^>]*>", re.I)


def looks_like_html(text: str) -> bool:
    """True when ``text`` is clearly markup: an HTML document start, or dense block tags."""
    if _HTML_START.match(text[:4096]):
        return True
    head = text[:20_000]
    tags = _HTML_TAG.findall(head)
    return len(tags) >= 5 and sum(map(len, tags)) > 0.05 * len(head)


def _first(obj: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        value = obj.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n\n".join(str(v) for v in value if v)
    if isinstance(value, dict):
        return _as_text(_first(value, "name", "text", "value", "url"))
    return str(value)


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _authors(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        text = _as_text(item)
        if text:
            names.extend(n for n in (normalize_text(p) for p in re.split(r"[;|]", text)) if n)
    return names


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _whole(value: Any) -> Any:
    if isinstance(value, str):
        return whole_chars(value)
    if isinstance(value, list):
        return [_whole(v) for v in value]
    return value


def _whole_chars(obj: dict[str, Any]) -> dict[str, Any]:
    """An object's strings with each lone surrogate replaced (pairs are joined)."""
    return {_whole(k): _whole(v) for k, v in obj.items()}


def _extract_json(text: str, url: str | None) -> Extracted:
    """A JSON article: its html field through the HTML extractor, else its text field."""
    try:
        # A JSON string may hold "\\ud800", half of a surrogate pair, which no output can
        # encode (it stopped `newsflow clean`'s whole batch): such halves become U+FFFD.
        data = json.loads(text, parse_constant=_no_constant, object_hook=_whole_chars)
    except RecursionError:  # "[[[[..." thousands deep: the parser recurses per level
        raise CleanError(CleanReason.BAD_JSON, "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # a syntax error; NaN, Infinity; an integer of 4,300 digits
        raise CleanError(CleanReason.BAD_JSON, json_problem(exc)) from None
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        raise CleanError(CleanReason.BAD_JSON, f"expected a JSON object, got {type(data).__name__}")
    # The object's own URL, if it is one that may be stored (not javascript:), else the
    # message's.
    url = safe_link(_as_text(_first(data, "url", "link", "canonical_url"))) or url
    html = _as_text(_first(data, "html", "content_html", "raw_html", "body_html"))
    body = _as_text(_first(data, "text", "body", "content", "articleBody", "article"))
    if html:
        extracted = extract_html(html, url)
    elif body and looks_like_html(body):
        extracted = extract_html(body, url)
    elif body:
        try:
            extracted = extract_text(body)
        except CleanError as exc:
            if exc.reason != "no_article_text":
                raise
            # A structured source's text field is the article itself, however short.
            extracted = Extracted(paragraphs=split_paragraphs(body), extractor="plain")
    else:
        raise CleanError(
            CleanReason.NO_ARTICLE_TEXT, "JSON object has no html/text/body/content field"
        )
    # The source's own structured fields beat anything guessed from the page.
    updates: dict[str, Any] = {}
    title = _as_text(_first(data, "title", "headline"))
    if title:
        updates["title"] = normalize_text(title)
    authors = _authors(_first(data, "authors", "author", "byline"))
    if authors:
        updates["authors"] = authors
    published = _parse_datetime(_first(data, "published", "published_at", "datePublished", "date"))
    if published:
        updates["published_at"] = published
    for field, keys in (
        ("description", ("description", "summary")),
        ("image", ("image", "top_image")),
        ("site", ("site", "site_name", "source")),
    ):
        value = _as_text(_first(data, *keys))
        if value:
            updates[field] = normalize_text(value)
    if updates.get("image"):
        updates["image"] = safe_link(updates["image"])  # never a javascript: link
    if url and not extracted.canonical_url:
        updates["canonical_url"] = url
    updates["extractor"] = f"json+{extracted.extractor}"
    return extracted.model_copy(update=updates)


# The documented defaults, not the environment: a pure stage never reads configuration; the
# pipeline and the CLI pass the limits they read at their entry point.
_DEFAULT_LIMITS = Limits.model_construct()


def clean(raw: RawArticle, limits: Limits = _DEFAULT_LIMITS) -> Extracted:
    """Cleans one raw article: the article's normalized paragraphs and metadata.

    Raises CleanError with ``reason`` "too_large", "empty", "binary", "bad_json" or
    "no_article_text".
    """
    max_bytes = limits.max_input_bytes
    text = decode_body(raw.body, raw.encoding, raw.content_type, max_bytes=max_bytes)
    if raw.content_type == ContentType.HTML:
        # A feed entry's markup is a fragment, not a page: cleaned as what it is.
        extracted = extract_fragment(text) if is_fragment(text) else extract_html(text, raw.url)
    elif raw.content_type == ContentType.JSON:
        extracted = _extract_json(text, raw.url)
    elif looks_like_html(text):
        extracted = extract_html(text, raw.url)
        extracted = extracted.model_copy(update={"extractor": f"auto+{extracted.extractor}"})
    else:
        extracted = extract_text(text)

    paragraphs = (
        list(extracted.paragraphs)
        if extracted.normalized
        else normalize_paragraphs(extracted.paragraphs)
    )
    if not paragraphs:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "no article text left after cleaning")
    updates: dict[str, Any] = {"paragraphs": paragraphs}
    # Source hints (feed title, published date) fill what the page itself did not say.
    hints = raw.metadata
    if not extracted.title and hints.get("title"):
        updates["title"] = normalize_text(hints["title"])
    if not extracted.published_at:
        published = _parse_datetime(hints.get("published") or hints.get("published_at"))
        if published:
            updates["published_at"] = published
    if not extracted.canonical_url and raw.url:
        updates["canonical_url"] = raw.url
    return extracted.model_copy(update=updates)


def to_article(raw: RawArticle, extracted: Extracted, tags: Tags | None = None) -> Article:
    """The indexable Article for a cleaned page, with its exact hash and near-dup signatures."""
    text = "\n\n".join(extracted.paragraphs)
    tags = tags or Tags()
    return Article(
        id=raw.id,
        source=raw.source,
        url=raw.url,
        canonical_url=extracted.canonical_url,
        title=extracted.title,
        body=list(extracted.paragraphs),
        byline=list(extracted.authors),
        description=extracted.description,
        image=extracted.image,
        published_at=extracted.published_at,
        site=extracted.site,
        language=tags.language,
        tags=tags,
        content_hash=content_hash(extracted.paragraphs),
        simhash=simhash(text),
        minhash=minhash(text),
        content_type=raw.content_type,
        cleaner=extracted.extractor,
        extraction=Extraction(
            extractor=extracted.extractor,
            versions=dict(extracted.versions),
            # An extractor that gives no confidence (a structured source's own text field)
            # is trusted as the source's text.
            confidence=1.0 if extracted.confidence is None else extracted.confidence,
            signals=dict(extracted.signals),
        ),
        fetched_at=raw.fetched_at,
    )


_SUFFIX_TYPES = {
    ".html": ContentType.HTML,
    ".htm": ContentType.HTML,
    ".xhtml": ContentType.HTML,
    ".json": ContentType.JSON,
    ".txt": ContentType.TEXT,
    ".text": ContentType.TEXT,
}


def _content_type_for(path: Path, fmt: str) -> ContentType:
    if fmt != "auto":
        try:
            return ContentType(fmt)
        except ValueError:
            raise ValueError(f"unknown format {fmt!r}: use html, text, json or auto") from None
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    # Unknown extensions are read as text; clean() still recognizes markup in them.
    return _SUFFIX_TYPES.get(suffixes[-1], ContentType.TEXT) if suffixes else ContentType.TEXT


def raw_from_file(
    path: str | Path, fmt: str = "auto", url: str | None = None, limits: Limits = _DEFAULT_LIMITS
) -> RawArticle:
    """A RawArticle for a local file, with the id `newsflow produce` gives the same file.

    The content type comes from ``fmt``, else the file name. Raises SourceError when the file
    is missing, unreadable or larger than ``limits.max_input_bytes``.
    """
    path = Path(path)
    data = read_input(path, limits.max_input_bytes)
    return raw_document(
        data,
        source=path_text(path),
        content_type=_content_type_for(path, fmt),
        url=url,
        metadata={"filename": path_text(path.name)},
    )


def clean_file(path: str | Path, fmt: str = "auto", limits: Limits = _DEFAULT_LIMITS) -> Extracted:
    """Cleans a local file (``.gz`` read transparently); ``fmt`` is html, text, json or auto."""
    return clean(raw_from_file(path, fmt, limits=limits), limits)
