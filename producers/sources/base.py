"""What every source shares: the Source protocol, the Rejected value, one-document files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from newsflow.reading.document import document_text, raw_document
from newsflow.reading.files import path_text, read_input
from newsflow.reading.sniff import binary_reason
from newsflow.settings import Limits
from schemas.article import ContentType, RawArticle
from schemas.failures import SourceError
from schemas.reasons import ProduceReason


@dataclass(frozen=True)
class Rejected:
    """An input or record that was skipped, with where it came from and why."""

    source: str
    reason: ProduceReason
    detail: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason} ({self.detail})"

    @classmethod
    def from_error(cls, source: str, error: SourceError) -> Rejected:
        """The ``Rejected`` value reporting ``error`` for ``source``."""
        return cls(source=source, reason=error.reason, detail=error.detail)


class Source(Protocol):
    """Anything that yields articles (and rejections) from one input location."""

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one RawArticle per article found, or a Rejected per unusable input/record."""
        ...


def require_text(data: bytes) -> None:
    """Raises ``SourceError(BINARY)`` if ``data`` looks like a binary file rather than text."""
    reason = binary_reason(data)
    if reason is not None:
        raise SourceError(ProduceReason.BINARY, reason)


@dataclass(frozen=True)
class DocumentFile:
    """A file that holds one article (optionally gzipped); subclasses name its content type.

    Rejected when it cannot be read, is larger than the limit, is binary or has no text.
    """

    path: Path
    limits: Limits
    content_type: ClassVar[ContentType]

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the file as one article, or its rejection."""
        source = path_text(self.path)
        try:
            data = read_input(self.path, self.limits.max_input_bytes)
            require_text(data)
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
            return
        if not document_text(data, self.content_type).strip(" \t\r\n\ufeff"):
            yield Rejected(source, ProduceReason.EMPTY, "no text")
            return
        metadata = {"filename": path_text(self.path.name)}
        yield raw_document(data, source=source, content_type=self.content_type, metadata=metadata)
