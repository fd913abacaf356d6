"""The messages and documents that flow through newsflow, as pydantic v2 models."""

from schemas.article import (
    SCHEMA_VERSION,
    Article,
    ContentType,
    DeadLetter,
    Extraction,
    RawArticle,
    Stage,
    Tag,
    Tags,
)

__all__ = [
    "SCHEMA_VERSION",
    "Article",
    "ContentType",
    "DeadLetter",
    "Extraction",
    "RawArticle",
    "Stage",
    "Tag",
    "Tags",
]
