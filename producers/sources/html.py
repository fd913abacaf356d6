"""Saved web pages (``.html``/``.htm``), identified by their canonical URL."""

from __future__ import annotations

from producers.sources.base import DocumentFile
from schemas.article import ContentType


class HtmlFile(DocumentFile):
    """A saved web page (``.html``/``.htm``, optionally gzipped); URL from its canonical link."""

    content_type = ContentType.HTML
