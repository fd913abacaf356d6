"""What an extractor returns: the article text as paragraphs plus whatever metadata it found."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Extracted(BaseModel):
    """The article found in one page: paragraphs in reading order, and page metadata."""

    paragraphs: list[str] = Field(default_factory=list)
    title: str | None = None
    authors: list[str] = Field(default_factory=list)
    published_at: datetime | None = None
    site: str | None = None
    canonical_url: str | None = None
    description: str | None = None
    image: str | None = None
    extractor: str = Field(description="Which extractor (and combination) produced the text")
    versions: dict[str, str] = Field(
        default_factory=dict, description="Version of each extractor that ran"
    )
    confidence: float | None = Field(
        default=None, description="0-1: how likely the text is the article and nothing else"
    )
    signals: dict[str, float] = Field(
        default_factory=dict, description="The evidence the confidence was computed from"
    )
    # True when ``paragraphs`` are already in normalize_paragraphs() form (normalized, no
    # empty ones, no immediate repeats), so clean() need not normalize them a second time.
    normalized: bool = Field(default=False, exclude=True)

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)
