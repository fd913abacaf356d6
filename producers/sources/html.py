"""Saved web pages (``.html``/``.htm``), identified by their canonical URL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsflow.settings import Limits
from producers.sources.base import Rejected, document_from_file
from schemas.article import ContentType, RawArticle


@dataclass(frozen=True)
class HtmlFile:
    """A saved web page (``.html``/``.htm``, optionally gzipped); URL from its canonical link."""

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the page as one HTML article."""
        yield document_from_file(self.path, self.limits, ContentType.HTML)
