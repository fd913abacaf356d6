"""Plain-text article files (``.txt``, like the seed), identified by their content."""

from __future__ import annotations

from producers.sources.base import DocumentFile
from schemas.article import ContentType


class TextFile(DocumentFile):
    """A plain-text article file (``.txt``, optionally gzipped); identified by its content."""

    content_type = ContentType.TEXT
