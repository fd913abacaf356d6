"""RawArticle (what producers publish), Article (what is indexed) and DeadLetter (what failed).

Every model carries ``schema_version`` so a consumer can tell an old message from a new one
during a rolling upgrade; bump it on any change a reader must know about.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator

from schemas.reasons import Stage

SCHEMA_VERSION: Literal[1] = 1

# "scheme://user:password@" up to the last "@" before the path (a raw "@" in a password too).
_USERINFO = re.compile(r"^(\s*[A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def without_userinfo(value: str) -> str:
    """``value`` without a URL's ``user:password@`` (anything else unchanged).

    A feed or link URL may carry a login. The crawler never sends it (the connection goes to
    the checked address, without userinfo), and as data it was stored in clear in every topic
    and every indexed document of the feed: a URL is stripped of it before it becomes data.
    """
    return _USERINFO.sub(r"\1", value)


#: A URL (or a source that may be one) as data: never with a login.
DataUrl = Annotated[str, AfterValidator(without_userinfo)]

#: The schemes a stored link may have (a reference without a scheme is relative to a page).
LINK_SCHEMES = frozenset({"http", "https"})


def safe_link(value: str | None) -> str | None:
    """``value`` as a link to store (without a login), or None when it must not be one.

    An article's URL, canonical URL and image come from pages, feeds and input files, and
    Kibana shows them as fields people click: ``javascript:alert(1)`` (in a page's
    ``<link rel=canonical>``, a feed item's link, a JSON line's ``url``) was stored as is.
    Only http(s) URLs and references without a scheme (relative to their page) are kept;
    the scheme is read as urllib reads it, after the leading spaces and the tabs and line
    breaks a browser ignores too (``java\tscript:`` is ``javascript:``).
    """
    if value is None:
        return None
    try:
        scheme = urlsplit(value).scheme
    except ValueError:  # "http://[::1": no link a browser could follow either
        return None
    if scheme and scheme.lower() not in LINK_SCHEMES:
        return None
    return without_userinfo(value)


def _refuse_unsafe_link(value: str) -> str:
    link = safe_link(value)
    if link is None:
        raise ValueError(f"not an http(s) URL: scheme {urlsplit(value).scheme!r}")
    return link


#: A link stored with an article: http(s) or relative, never with a login.
LinkUrl = Annotated[str, AfterValidator(_refuse_unsafe_link)]


def _now() -> datetime:
    return datetime.now(UTC)


def _b64_decode(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return base64.b64decode(value)
    # ValueError, not TypeError: pydantic turns only the former into a ValidationError, so a
    # message with `"body": null` is a schema error, not a crash of the decode stage.
    raise ValueError("expected base64 text or bytes")


# Raw bodies and dead-letter payloads are arbitrary bytes; JSON carries them as base64 so
# that undecodable input survives the round trip bit for bit.
B64Bytes = Annotated[
    bytes,
    PlainValidator(_b64_decode),
    PlainSerializer(lambda b: base64.b64encode(b).decode("ascii"), return_type=str),
]


class ContentType(StrEnum):
    TEXT = "text"
    HTML = "html"
    JSON = "json"


class RawArticle(BaseModel):
    """One fetched document, exactly as the source gave it."""

    model_config = ConfigDict(frozen=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Field(description="Stable article id: hash of the canonical URL, else of the content")
    source: DataUrl = Field(description="Where it came from: a file path, feed URL or WARC record")
    url: LinkUrl | None = None
    content_type: ContentType
    body: B64Bytes = Field(
        description="The raw bytes: base64 in the JSON form; in the framed form the raw topic "
        "carries (schemas/wire.py), the bytes themselves after the other fields"
    )
    encoding: str | None = Field(default=None, description="Declared charset, if any")
    fetched_at: datetime = Field(default_factory=_now)
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Hints from the source (feed title, published date)"
    )


class Tag(BaseModel):
    """One tag value with its score and the tagger that produced it."""

    value: str
    label: str | None = Field(default=None, description="Entity type, topic code, etc.")
    score: float | None = None


#: The kinds of tag a tagger component produces; ``Tags.unsupported`` lists those it could not.
TagKind = Literal["entities", "keywords", "topics", "countries"]


class Tags(BaseModel):
    """All tags on an article; ``tagger``/``tagger_version`` name the code and models used."""

    tagger: str = "newsflow-tagger"
    tagger_version: str = "0"
    language: str | None = None
    language_score: float | None = None
    persons: list[str] = Field(default_factory=list)
    organizations: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    entities: list[Tag] = Field(default_factory=list)
    keywords: list[Tag] = Field(default_factory=list)
    topics: list[Tag] = Field(default_factory=list, description="IPTC Media Topics, top level")
    countries: list[str] = Field(default_factory=list, description="ISO 3166-1 alpha-2 codes")
    models: dict[str, str] = Field(
        default_factory=dict,
        description="Kind of tag (language, entities, keywords, topics, countries) -> the model "
        "or lexicon that produced it, or 'unsupported: ...' / 'skipped: ...'; "
        "and package -> version",
    )
    unsupported: list[TagKind] = Field(
        default_factory=list,
        description="Kinds of tag not produced because the article's language has no model or "
        "lexicon for them (an empty list there means 'not supported', not 'none found')",
    )


class Extraction(BaseModel):
    """Provenance of an article's body: which extractor produced it, and how sure it is."""

    extractor: str = Field(
        description="The extractor (or combination) whose text is the body, e.g. "
        "trafilatura+textmass, trafilatura, script-data, text-mlp-hmm"
    )
    versions: dict[str, str] = Field(
        default_factory=dict, description="Version of each extractor that ran on the page"
    )
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="0-1, how likely the body is the article and nothing else (calibrated on "
        "the dev corpora: the mean extraction F1 of pages with this confidence)",
    )
    signals: dict[str, float] = Field(
        default_factory=dict, description="The evidence the confidence was computed from"
    )


class Article(BaseModel):
    """A cleaned, tagged article: the document indexed into Elasticsearch."""

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str
    source: DataUrl | None = None
    url: LinkUrl | None = None
    canonical_url: LinkUrl | None = None
    title: str | None = None
    body: list[str] = Field(default_factory=list, description="Article text, one item a paragraph")
    byline: list[str] = Field(default_factory=list, description="Authors")
    description: str | None = None
    image: LinkUrl | None = None
    published_at: datetime | None = None
    site: str | None = None
    language: str | None = None
    tags: Tags = Field(default_factory=Tags)
    content_hash: str = Field(description="sha256 of the normalized body text")
    simhash: str = Field(description="64-bit SimHash of the body's word shingles, 16 hex digits")
    minhash: list[int] = Field(default_factory=list, description="MinHash signature")
    content_type: ContentType | None = None
    cleaner: str | None = Field(default=None, description="Which extractor produced the body")
    summary_only: bool = Field(
        default=False,
        description="The body is only the feed entry's own text (its page was not fetched, or "
        "could not be); the full page replaces it when it arrives, never the other way round",
    )
    extraction: Extraction | None = Field(
        default=None, description="The extractor, its version and its confidence"
    )
    fetched_at: datetime | None = None
    ingested_at: datetime = Field(default_factory=_now)

    @property
    def text(self) -> str:
        """The body as one string, paragraphs separated by a blank line."""
        return "\n\n".join(self.body)


class DeadLetter(BaseModel):
    """A message that could not be processed, with the reason and the original bytes."""

    schema_version: Literal[1] = SCHEMA_VERSION
    original: B64Bytes
    original_key: B64Bytes | None = None
    #: Size and SHA-256 of the whole original message. A dead letter must fit the broker's
    #: message limit; when the original does not, ``original`` holds only its first bytes,
    #: ``original_truncated`` is set, and replay reads the whole message again from
    #: ``topic``/``partition``/``offset`` (while the topic's retention still holds it).
    original_size: int | None = None
    original_sha256: str | None = None
    original_truncated: bool = False
    stage: Stage
    error_type: str = Field(
        description="Why it failed: a reason of its stage's vocabulary (schemas/reasons.py)"
    )
    error_message: str
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    failed_at: datetime = Field(default_factory=_now)
    attempts: int = 1
