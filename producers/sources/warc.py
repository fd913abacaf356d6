"""Web archives (``.warc``/``.warc.gz``): one HTML article per successful HTML response."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeadersParserException

from newsflow.reading.decode import charset_param
from newsflow.reading.document import raw_document
from newsflow.reading.files import READ_ERRORS, open_input, path_text
from newsflow.reading.warc import Damaged, Oversized, WarcRecord, records
from newsflow.settings import Limits
from producers.sources.base import Rejected, require_text
from schemas.article import ContentType, RawArticle
from schemas.failures import SourceError, describe
from schemas.reasons import ProduceReason

# What warcio raises on a record whose HTTP part is malformed.
_HTTP_ERRORS = (ArchiveLoadFailed, StatusAndHeadersParserException, ValueError, *READ_ERRORS)
# Room for the HTTP status line and headers in front of a body of the size limit.
_HTTP_HEADER_ALLOWANCE = 256 * 1024


def _warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Warc:
    """A web archive (``.warc``/``.warc.gz``): one HTML article per successful HTML response.

    Requests, metadata, redirects, errors and non-HTML responses are not articles and are
    passed over silently; the record's target URI is the article URL and its WARC-Date the
    fetch time. Records are framed by ``newsflow.reading.warc``: a truncated record, one
    whose declared length does not match what is there, or bytes that are no record are
    each rejected (``invalid-warc``, with the offset and why), never published cut off or
    merged with the next; a record larger than the limit is rejected as ``oversized``.
    """

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one article per HTML response record, a Rejected per unusable record."""
        source = path_text(self.path)
        limit = self.limits.max_input_bytes
        try:
            stream, _ = open_input(self.path, limit + _HTTP_HEADER_ALLOWANCE)
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
            return
        with stream:
            try:
                head = stream.read(5)
            except READ_ERRORS as exc:
                yield Rejected(source, ProduceReason.INVALID_WARC, describe(exc))
                return
            if head != b"WARC/":
                # warcio would silently yield nothing (or ARC records) for other files; a
                # wrong file named ``.warc`` is reported instead.
                detail = f"does not start with a WARC header: {head!r}"
                yield Rejected(source, ProduceReason.INVALID_WARC, detail)
                return
            stream.seek(0)
            for item in records(stream, limit + _HTTP_HEADER_ALLOWANCE):
                where = f"{source}@{item.offset}"
                if isinstance(item, Damaged):
                    yield Rejected(where, ProduceReason.INVALID_WARC, item.detail)
                elif isinstance(item, Oversized):
                    if _is_response(item.fields):
                        detail = f"record of {item.length} bytes > limit {limit}"
                        yield Rejected(where, ProduceReason.OVERSIZED, detail)
                else:
                    article = self._article(item, where)
                    if article is not None:
                        yield article

    def _article(self, item: WarcRecord, where: str) -> RawArticle | Rejected | None:
        if not _is_response(item.fields):
            return None
        if not item.field("WARC-Target-URI"):
            # The WARC standard requires it of a response, and warcio cannot parse the HTTP
            # part without it (it fails with an AttributeError, found by the property suite).
            detail = "response record without a WARC-Target-URI"
            return Rejected(where, ProduceReason.INVALID_WARC, detail)
        limit = self.limits.max_input_bytes
        try:
            record = item.parsed()
            if record.http_headers is None:
                return None
            content_type = record.http_headers.get_header("Content-Type") or ""
            if "html" not in content_type.lower():
                return None
            if not record.http_headers.get_statuscode().startswith("2"):
                return None
            # content_stream undoes chunked transfer and gzip/deflate content encoding,
            # inflating only as far as it is read.
            data = record.content_stream().read(limit + 1)
        except _HTTP_ERRORS as exc:
            return Rejected(
                where, ProduceReason.INVALID_WARC, f"bad HTTP response: {describe(exc)}"
            )
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
            url=item.field("WARC-Target-URI"),
            declared=charset_param(content_type),
            metadata={"warc_record": where},
            fetched_at=_warc_date(item.field("WARC-Date")),
        )


def _is_response(fields: dict[str, str]) -> bool:
    return fields.get("warc-type", "").lower() == "response"
