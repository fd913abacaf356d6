"""Typed views of Elasticsearch hits, instead of ``dict[str, Any]`` passed from hand to hand.

``StoredArticle`` is an article document as the index holds it: ``schemas.Article``'s fields
plus what the enrichment stages wrote, every field optional because a search asks for only
some of them. ``Hit`` is one hit of a search, scan or mget, with its metadata. Both ignore
fields they do not name, so a new field in the index never breaks a reader; the one reader
that needs the document exactly as stored (the reindex copy) asks for ``Hit.document()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from elastic_transport import ObjectApiResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr

#: The source fields a printed hit shows (title, lead, date, site, entities, topics).
#: ``ingested_at`` is the date an undated article shows (and is ranked and filtered by).
DISPLAY_FIELDS = [
    "id",
    "title",
    "site",
    "published_at",
    "ingested_at",
    "language",
    "url",
    "description",
    "body",
    "story_id",
    "story_size",
    "tags.persons",
    "tags.organizations",
    "tags.locations",
    "tags.topics",
    "summary_only",
]


def parse_datetime(value: Any) -> datetime | None:
    """A stored date as an aware datetime (naive ones are UTC); None if absent or unreadable."""
    if isinstance(value, str) and value:
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _paragraphs(value: Any) -> Any:
    # Documents written by hand (tests, other tools) sometimes hold the body as one string.
    return [value] if isinstance(value, str) else value or []


StoredDate = Annotated[datetime | None, BeforeValidator(parse_datetime)]


class _View(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StoredTag(_View):
    """One tag value (entity, keyword, topic, salient entity) with its label and score."""

    value: str = ""
    label: str | None = None
    score: float | None = None


class StoredTags(_View):
    persons: list[str] = Field(default_factory=list)
    organizations: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    entities: list[StoredTag] = Field(default_factory=list)
    keywords: list[StoredTag] = Field(default_factory=list)
    topics: list[StoredTag] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)


class EnrichmentStamps(_View):
    """Which enrichment stages ran on an article, and when."""

    stages: list[str] = Field(default_factory=list)
    clustered_at: StoredDate = None
    embedded_at: StoredDate = None
    rolled_up_at: StoredDate = None
    embedding_model: str | None = None


class StoredArticle(_View):
    """An article document as stored in the index (every field optional)."""

    id: str | None = None
    title: str | None = None
    description: str | None = None
    body: Annotated[list[str], BeforeValidator(_paragraphs)] = Field(default_factory=list)
    site: str | None = None
    url: str | None = None
    language: str | None = None
    published_at: StoredDate = None
    ingested_at: StoredDate = None
    simhash: str | None = None
    minhash: list[int] = Field(default_factory=list)
    content_hash: str | None = None
    summary_only: bool | None = None
    tags: StoredTags = Field(default_factory=StoredTags)
    story_id: str | None = None
    story_canonical: bool | None = None
    story_size: int | None = None
    story_previous: str | None = None
    embedding: list[float] | None = None
    salience: list[StoredTag] = Field(default_factory=list)
    enrichment: EnrichmentStamps = Field(default_factory=EnrichmentStamps)

    @property
    def entities(self) -> list[str]:
        """The named entities the tagger listed: persons, organizations, then locations."""
        return [*self.tags.persons, *self.tags.organizations, *self.tags.locations]

    @property
    def lead(self) -> str | None:
        """What stands in for a missing title: the description, else the body's first words."""
        if self.description:
            return self.description[:120]
        if not self.body:
            return None
        first = self.body[0]
        return first if len(first) <= 100 else first[:100].rsplit(" ", 1)[0] + " …"

    @property
    def headline(self) -> str:
        """The line a hit is listed under: the title, else the lead."""
        return self.title or self.lead or "(untitled)"


class Hit(_View):
    """One hit of a search, scan, get or mget."""

    model_config = ConfigDict(extra="ignore", validate_by_name=True, validate_by_alias=True)

    id: str = Field(alias="_id")
    index: str | None = Field(default=None, alias="_index")
    score: float | None = Field(default=None, alias="_score")
    found: bool | None = None
    seq_no: int | None = Field(default=None, alias="_seq_no")
    primary_term: int | None = Field(default=None, alias="_primary_term")
    source: StoredArticle = Field(default_factory=StoredArticle, alias="_source")
    fields: dict[str, list[Any]] = Field(default_factory=dict)
    highlight: dict[str, list[str]] = Field(default_factory=dict)
    sort: list[Any] = Field(default_factory=list)

    _document: dict[str, Any] = PrivateAttr(default_factory=dict)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> Hit:
        """The typed view of one raw hit as the client returned it."""
        hit = cls.model_validate(raw)
        hit._document = dict(raw.get("_source") or {})
        return hit

    def document(self) -> dict[str, Any]:
        """The ``_source`` exactly as stored, unknown fields included (for copying it)."""
        return dict(self._document)

    @property
    def version(self) -> tuple[int, int] | None:
        """(seq_no, primary_term) when the hit was read with them, for conditional writes."""
        if self.seq_no is None or self.primary_term is None:
            return None
        return self.seq_no, self.primary_term

    @property
    def snippets(self) -> list[str]:
        """Highlighted passages of the body, else of the description (a hit that matched in
        its lead alone), if the search asked for them."""
        return self.highlight.get("body") or self.highlight.get("description", [])

    @property
    def vector(self) -> list[float] | None:
        """The stored embedding: Elasticsearch 9 returns it in ``fields``, not ``_source``."""
        return self.fields.get("embedding") or self.source.embedding


Response = ObjectApiResponse[Any] | Mapping[str, Any]


def hits_of(response: Response) -> list[Hit]:
    """The hits of a search response."""
    return [Hit.of(h) for h in response["hits"]["hits"]]


def total_of(response: Response) -> int:
    """The total hit count of a search response (a number or ``{"value": n}``)."""
    total = response["hits"]["total"]
    return int(total["value"] if isinstance(total, dict) else total)
