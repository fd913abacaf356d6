"""The clean stage as a pure function: RawArticle in, cleaned and tagged Article out.

No Kafka and no network here. consumers/workers.py runs it in a child process
(consumers/runner.py), which is also what enforces the time limit per message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from consumers.cleaning import clean, to_article
from consumers.cleaning.model import Extracted
from newsflow.reading.identity import site_of
from newsflow.settings import Limits
from schemas import Article, RawArticle, Tags
from schemas.article import safe_link
from schemas.crawl import SUMMARY_ONLY
from schemas.failures import CleanError
from schemas.reasons import CleanReason


class Tagger(Protocol):
    def tag(self, title: str | None, paragraphs: list[str]) -> Tags: ...


#: Longest site name kept: a name is a few words, and Elasticsearch refused a 39,000-character
#: og:site_name (a keyword), losing the whole article to one field (data review).
MAX_SITE_CHARS = 256  # a host name has at most 253


def _site(*candidates: str | None) -> str | None:
    """The first candidate that can be a site's name (set, and not absurdly long)."""
    for candidate in candidates:
        name = " ".join(candidate.split()) if candidate else ""
        if name and len(name) <= MAX_SITE_CHARS:
            return name
    return None


def build_article(raw: RawArticle, extracted: Extracted, tags: Tags) -> Article:
    """The indexed document: the cleaner's article plus what the source itself said.

    A feed entry or JSON record often knows the title, date or URL that the page text lacks,
    so those fill the gaps the extraction left; a site named by the source is kept as named.
    """
    article = to_article(raw, extracted, tags)
    published = article.published_at
    if published is None and raw.metadata.get("published"):
        try:
            published = datetime.fromisoformat(raw.metadata["published"])
        except ValueError:
            published = None
    if published is not None and published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    # model_copy does not validate: the URLs are checked here as the schema's LinkUrl would
    # (no login, no javascript:).
    url = raw.url or safe_link(extracted.canonical_url)
    return article.model_copy(
        update={
            "url": url,
            "canonical_url": safe_link(extracted.canonical_url or raw.url),
            "title": article.title or raw.metadata.get("title"),
            "published_at": published,
            # The site the user named (the feeds file, a JSON line) or the sitemap declares
            # first: `search --site "Loopback News"` should find what its feed brought.
            "site": _site(raw.metadata.get("site"), article.site, site_of(url)),
            # The feeds file's language hint, for text too short for the detector to tell.
            "language": article.language or raw.metadata.get("language"),
            "summary_only": raw.metadata.get(SUMMARY_ONLY) == "true",
        }
    )


def process_raw(raw: RawArticle, tagger: Tagger, limits: Limits) -> Article:
    """Cleans and tags one raw article.

    Raises CleanError (with a reason such as ``too_large``, ``binary``, ``no_article_text``)
    when the message cannot become an article; the worker dead-letters it with that reason.
    """
    extracted = clean(raw, limits)
    if not extracted.paragraphs:
        raise CleanError(CleanReason.NO_ARTICLE_TEXT, "no article text found in the page")
    tags = tagger.tag(extracted.title, extracted.paragraphs)
    return build_article(raw, extracted, tags)
