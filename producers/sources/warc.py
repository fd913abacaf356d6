"""Web archives (``.warc``/``.warc.gz``): one HTML article per successful HTML response."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from newsflow.reading.decode import charset_param
from newsflow.reading.document import raw_document
from newsflow.reading.files import READ_ERRORS, check_regular_file, open_input
from newsflow.settings import Limits
from producers.sources.base import Rejected, require_text
from schemas.article import ContentType, RawArticle
from schemas.failures import SourceError, describe
from schemas.reasons import ProduceReason


def _warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _check_warc_start(path: Path) -> None:
    """Raises INVALID_WARC unless the file (gzipped or not) starts with a WARC header.

    warcio would silently yield nothing (or ARC records) for other files; a wrong file named
    ``.warc`` must be reported instead.
    """
    with open_input(path) as fh:
        head = fh.read(5)
    if head != b"WARC/":
        raise SourceError(
            ProduceReason.INVALID_WARC, f"does not start with a WARC header: {head!r}"
        )


@dataclass(frozen=True)
class Warc:
    """A web archive (``.warc``/``.warc.gz``): one HTML article per successful HTML response.

    Requests, metadata, redirects, errors and non-HTML responses are not articles and are
    passed over silently; the record's target URI is the article URL and its WARC-Date the
    fetch time.
    """

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one article per HTML response record, a Rejected per unusable record."""
        source = str(self.path)
        try:
            check_regular_file(self.path)
            _check_warc_start(self.path)
            with self.path.open("rb") as fh:
                records = ArchiveIterator(fh)
                for record in records:
                    # The offset is only known once the record has been read to its end.
                    item = self._article(record, lambda: f"{source}@{records.get_record_offset()}")
                    if item is not None:
                        yield item
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
        except (ArchiveLoadFailed, *READ_ERRORS, ValueError) as exc:
            # Records already yielded stay published; the damaged rest is reported once.
            yield Rejected(source, ProduceReason.INVALID_WARC, describe(exc))

    def _article(self, record: Any, locate: Callable[[], str]) -> RawArticle | Rejected | None:
        if record.rec_type != "response" or record.http_headers is None:
            return None
        content_type = record.http_headers.get_header("Content-Type") or ""
        if "html" not in content_type.lower():
            return None
        if not record.http_headers.get_statuscode().startswith("2"):
            return None
        limit = self.limits.max_input_bytes
        # content_stream undoes chunked transfer and gzip/deflate/br content encoding.
        data = record.content_stream().read(limit + 1)
        where = locate()
        if len(data) > limit:
            return Rejected(where, ProduceReason.OVERSIZED, f"more than {limit} bytes")
        try:
            require_text(data)
        except SourceError as exc:
            return Rejected.from_error(where, exc)
        if not data.strip():
            return Rejected(where, ProduceReason.EMPTY, "empty response body")
        return raw_document(
            data,
            source=where,
            content_type=ContentType.HTML,
            # Without a target URI, the page's own canonical link names it.
            url=record.rec_headers.get_header("WARC-Target-URI") or None,
            declared=charset_param(content_type),
            metadata={"warc_record": where},
            fetched_at=_warc_date(record.rec_headers.get_header("WARC-Date")),
        )
