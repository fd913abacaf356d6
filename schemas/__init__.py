"""The messages and documents that flow through newsflow (pydantic v2 models), the one
vocabulary of failure reasons, and the typed failures that carry them."""

from schemas.article import (
    SCHEMA_VERSION,
    Article,
    ContentType,
    DeadLetter,
    Extraction,
    RawArticle,
    Tag,
    Tags,
)
from schemas.crawl import FeedState, Link
from schemas.events import IndexedEvent
from schemas.reasons import (
    AnyStageReason,
    CleanReason,
    DecodeReason,
    FetchReason,
    IndexReason,
    ProduceReason,
    Reason,
    Stage,
)

__all__ = [
    "SCHEMA_VERSION",
    "AnyStageReason",
    "Article",
    "CleanReason",
    "ContentType",
    "DeadLetter",
    "DecodeReason",
    "Extraction",
    "FeedState",
    "FetchReason",
    "IndexReason",
    "IndexedEvent",
    "Link",
    "ProduceReason",
    "RawArticle",
    "Reason",
    "Stage",
    "Tag",
    "Tags",
]
