"""Plain-text article files (``.txt``, like the seed), identified by their content."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsflow.settings import Limits
from producers.sources.base import Rejected, document_from_file
from schemas.article import ContentType, RawArticle


@dataclass(frozen=True)
class TextFile:
    """A plain-text article file (``.txt``, optionally gzipped); identified by its content."""

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the file as one text article."""
        yield document_from_file(self.path, self.limits, ContentType.TEXT)
