"""IndexedEvent: the announcement on the indexed topic that an article is searchable."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.article import SCHEMA_VERSION


class IndexedEvent(BaseModel):
    """One article written to the index: what wakes the enrichment DAG.

    Keyed by the article id on the topic, like every other message of the pipeline.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    id: str = Field(description="The article id (also the message key)")
    index: str | None = Field(default=None, description="Concrete index the article went to")
    indexed_at: datetime | None = Field(default=None, description="When the write was acked")
