"""Input kinds as data: one small class per source type, each yielding RawArticle or Rejected.

Every source turns its input into ``RawArticle`` messages with a stable id. A problem with one
input (missing, unreadable, oversized, binary, malformed) is yielded as a ``Rejected`` value
with a reason, never raised, so one bad file cannot stop a batch.

Size limits: a whole file (text, HTML, feed) must fit in ``Limits.max_input_bytes``; for
containers of many articles (JSON Lines, WARC) the limit applies to each record instead.
"""

from __future__ import annotations

import calendar
import codecs
import gzip
import http.client
import io
import json
import os
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from newsflow.reading.identity import article_id, url_from_html
from newsflow.settings import Limits
from schemas.article import ContentType, RawArticle
from schemas.failures import SourceError, describe
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


# --- Reading and sniffing bytes -------------------------------------------------------------

_SNIFF_BYTES = 8192

# Formats people drop into news folders by mistake; none of them can be an article.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "PDF document"),
    (b"\x89PNG\r\n\x1a\n", "PNG image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"GIF87a", "GIF image"),
    (b"GIF89a", "GIF image"),
    (b"RIFF", "RIFF media (WebP/WAV/AVI)"),
    (b"OggS", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"ID3", "MP3 audio"),
    (b"PK\x03\x04", "ZIP archive (or Office document)"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"7z\xbc\xaf\x27\x1c", "7z archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\x7fELF", "ELF executable"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE document (old Office)"),
    (b"SQLite format 3\x00", "SQLite database"),
    (b"wOFF", "web font"),
    (b"wOF2", "web font"),
)

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM starts with the UTF-16 one.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Control bytes that never occur in text (tab, newlines, form feed, escape and backspace do).
_CONTROL = bytes(b for b in range(32) if b not in (8, 9, 10, 12, 13, 27))
_MAX_CONTROL_RATIO = 0.1

_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([-\w.:]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^<\?xml[^>]*\bencoding\s*=\s*["']([-\w.:]+)""")


def bom_encoding(data: bytes) -> str | None:
    """The encoding named by a byte-order mark at the start of ``data``, if any."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return None


def check_binary(data: bytes) -> None:
    """Raises ``SourceError(BINARY)`` if ``data`` looks like a binary file rather than text."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            raise SourceError(ProduceReason.BINARY, f"looks like {kind}")
    if bom_encoding(data) in ("utf-16", "utf-32"):
        return  # NUL bytes are normal in these encodings
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        raise SourceError(ProduceReason.BINARY, "contains NUL bytes")
    if sample:
        controls = len(sample) - len(sample.translate(None, _CONTROL))
        if controls / len(sample) > _MAX_CONTROL_RATIO:
            raise SourceError(
                ProduceReason.BINARY, f"{controls} control bytes in the first {len(sample)}"
            )


def _known_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def _utf8_if_valid(data: bytes) -> str | None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "utf-8"


def text_encoding(data: bytes) -> str | None:
    """Encoding of plain text: BOM, else UTF-8 if it decodes as UTF-8, else unknown."""
    return bom_encoding(data) or _utf8_if_valid(data)


def html_encoding(data: bytes, declared: str | None = None) -> str | None:
    """Encoding of an HTML page: BOM, then the HTTP header, then ``<meta charset>``, then UTF-8.

    This is the order browsers use; the result is a hint for the cleaner, not a guarantee.
    """
    found = bom_encoding(data) or _known_codec(declared)
    if found:
        return found
    match = _META_CHARSET.search(data[:_SNIFF_BYTES])
    if match:
        found = _known_codec(match.group(1).decode("ascii", "replace"))
        if found:
            return found
    return _utf8_if_valid(data)


def _charset_param(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def decode_for_id(data: bytes, encoding: str | None) -> str:
    """Text used to hash content-identified inputs, decoded with the best-known encoding."""
    try:
        return data.decode(encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        return data.decode("latin-1")


def _is_gzip_name(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _open_input(path: Path) -> io.BufferedIOBase:
    if _is_gzip_name(path):
        return gzip.open(path, "rb")
    return path.open("rb")


def _check_regular_file(path: Path) -> int:
    """Size of ``path`` after checking it is a readable regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SourceError(ProduceReason.MISSING, "no such file") from None
    except OSError as exc:
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    if not path.is_file():
        raise SourceError(ProduceReason.UNREADABLE, "not a regular file")
    return st.st_size


def read_input(path: Path, max_bytes: int) -> bytes:
    """The whole content of a file (gunzipped if ``.gz``), refusing more than ``max_bytes``."""
    size = _check_regular_file(path)
    if not _is_gzip_name(path) and size > max_bytes:
        raise SourceError(ProduceReason.OVERSIZED, f"{size} bytes > limit {max_bytes}")
    try:
        with _open_input(path) as fh:
            # Read one byte past the limit: that is how a gzip bomb is noticed without
            # inflating all of it.
            data = fh.read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceError(ProduceReason.UNREADABLE, describe(exc)) from None
    if len(data) > max_bytes:
        raise SourceError(ProduceReason.OVERSIZED, f"more than {max_bytes} bytes once decompressed")
    return data


# --- HTTP ---------------------------------------------------------------------------------

_MAX_REDIRECTS = 5
_USER_AGENT = "newsflow/0.1 (+https://github.com/newsflow)"


@dataclass(frozen=True)
class Fetched:
    """A fetched HTTP document: final URL after redirects, body and content type."""

    url: str
    body: bytes
    content_type: str | None


def fetch(url: str, limits: Limits, accept: str = "*/*") -> Fetched:
    """GETs ``url`` with separate connect and read timeouts and the input size limit.

    ``http.client`` is used directly because urllib has a single timeout for both phases, and a
    slow server must not hold a batch for longer than ``http_read_timeout`` per read.
    """
    limit = limits.max_input_bytes
    for _ in range(_MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise SourceError(ProduceReason.UNSUPPORTED, f"not an http(s) URL: {url}")
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=limits.http_connect_timeout
            )
        else:
            conn = http.client.HTTPConnection(
                parts.hostname, parts.port, timeout=limits.http_connect_timeout
            )
        try:
            conn.connect()
            if conn.sock is not None:
                conn.sock.settimeout(limits.http_read_timeout)
            target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
            conn.request("GET", target, headers={"User-Agent": _USER_AGENT, "Accept": accept})
            resp = conn.getresponse()
            if resp.status in (301, 302, 303, 307, 308):
                location = resp.getheader("Location")
                if not location:
                    raise SourceError(
                        ProduceReason.FETCH_FAILED, f"HTTP {resp.status} without Location"
                    )
                url = urljoin(url, location)
                continue
            if resp.status != 200:
                raise SourceError(ProduceReason.FETCH_FAILED, f"HTTP {resp.status} {resp.reason}")
            length = resp.getheader("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise SourceError(ProduceReason.OVERSIZED, f"{length} bytes > limit {limit}")
            body = resp.read(limit + 1)
            if len(body) > limit:
                raise SourceError(ProduceReason.OVERSIZED, f"more than {limit} bytes")
            return Fetched(url=url, body=body, content_type=resp.getheader("Content-Type"))
        except (OSError, http.client.HTTPException) as exc:
            # TimeoutError and connection errors are OSErrors.
            raise SourceError(ProduceReason.FETCH_FAILED, describe(exc)) from None
        finally:
            conn.close()
    raise SourceError(ProduceReason.FETCH_FAILED, f"more than {_MAX_REDIRECTS} redirects")


def is_url(location: str) -> bool:
    """Whether ``location`` is an http(s) URL rather than a file path."""
    return location.lower().startswith(("http://", "https://"))


# --- Sources ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextFile:
    """A plain-text article file (``.txt``, like the seed); identified by its content."""

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the file as one text article."""
        source = str(self.path)
        try:
            data = read_input(self.path, self.limits.max_input_bytes)
            check_binary(data)
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
            return
        encoding = text_encoding(data)
        text = decode_for_id(data, encoding)
        if not text.strip(" \t\r\n\ufeff"):
            yield Rejected(source, ProduceReason.EMPTY, "no text")
            return
        yield RawArticle(
            id=article_id(None, text),
            source=source,
            content_type=ContentType.TEXT,
            body=data,
            encoding=encoding,
            metadata={"filename": self.path.name},
        )


@dataclass(frozen=True)
class HtmlFile:
    """A saved web page (``.html``/``.htm``, optionally gzipped); URL from its canonical link."""

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the page as one HTML article."""
        source = str(self.path)
        try:
            data = read_input(self.path, self.limits.max_input_bytes)
            check_binary(data)
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
            return
        if not data.strip():
            yield Rejected(source, ProduceReason.EMPTY, "no content")
            return
        encoding = html_encoding(data)
        url = url_from_html(data)
        yield RawArticle(
            id=article_id(url, decode_for_id(data, encoding)),
            source=source,
            url=url,
            content_type=ContentType.HTML,
            body=data,
            encoding=encoding,
            metadata={"filename": self.path.name},
        )


# JSON Lines field names, in order of preference; the first present and non-empty wins.
_JSON_TEXT_FIELDS = ("text", "body", "content", "html")
_JSON_URL_FIELDS = ("url", "link")
_JSON_METADATA = {
    "title": "title",
    "headline": "title",
    "published": "published",
    "published_at": "published",
    "date": "published",
    "source": "source",
    "site": "site",
    "author": "author",
    "language": "language",
}


def _read_line(fh: io.BufferedIOBase, limit: int) -> tuple[bytes, bool]:
    """The next line (at most ``limit`` bytes kept) and whether it was longer than that."""
    line = fh.readline(limit + 1)
    if len(line) <= limit or line.endswith(b"\n"):
        return line, False
    # Too long: skip to the end of the line without holding it in memory.
    while True:
        rest = fh.readline(1 << 20)
        if not rest or rest.endswith(b"\n"):
            return line, True


@dataclass(frozen=True)
class JsonLines:
    """A JSON Lines file (``.jsonl``/``.ndjson``): one article object per line.

    Each object needs a text, body, content or html field; url/link, title, published and
    source are carried when present. The message body is the line's JSON object as given.
    """

    path: Path
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one JSON article per usable line and one Rejected per bad line."""
        source = str(self.path)
        limit = self.limits.max_input_bytes
        try:
            _check_regular_file(self.path)
            with _open_input(self.path) as fh:
                check_binary(fh.read(_SNIFF_BYTES))
            with _open_input(self.path) as fh:
                lineno = 0
                while True:
                    line, too_long = _read_line(fh, limit)
                    if not line:
                        break
                    lineno += 1
                    where = f"{source}:{lineno}"
                    if too_long:
                        yield Rejected(where, ProduceReason.OVERSIZED, f"line > limit {limit}")
                    elif line.strip():
                        yield self._article(line.strip(), where)
        except SourceError as exc:
            yield Rejected.from_error(source, exc)
        except (OSError, EOFError, zlib.error) as exc:
            yield Rejected(source, ProduceReason.UNREADABLE, describe(exc))

    def _article(self, line: bytes, where: str) -> RawArticle | Rejected:
        try:
            obj = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            return Rejected(where, ProduceReason.INVALID_JSON, describe(exc))
        if not isinstance(obj, dict):
            return Rejected(
                where, ProduceReason.INVALID_JSON, f"a JSON {type(obj).__name__}, not an object"
            )
        field = next(
            (f for f in _JSON_TEXT_FIELDS if isinstance(obj.get(f), str) and obj[f].strip()), None
        )
        if field is None:
            fields = "/".join(_JSON_TEXT_FIELDS)
            return Rejected(where, ProduceReason.EMPTY, f"no non-empty {fields} field")
        content: str = obj[field]
        url = next(
            (obj[f] for f in _JSON_URL_FIELDS if isinstance(obj.get(f), str) and obj[f].strip()),
            None,
        )
        if url is None and field == "html":
            url = url_from_html(content)
        metadata = {"field": field}
        for key, name in _JSON_METADATA.items():
            value = obj.get(key)
            if (
                isinstance(value, str | int | float)
                and not isinstance(value, bool)
                and name not in metadata
            ):
                metadata[name] = str(value)
        return RawArticle(
            id=article_id(url, content),
            source=where,
            url=url,
            content_type=ContentType.JSON,
            body=line,
            encoding=bom_encoding(line) or "utf-8",
            metadata=metadata,
        )


_FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def _struct_time_iso(value: Any) -> str | None:
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class Feed:
    """An RSS or Atom feed, from a file or an http(s) URL: one HTML article per entry.

    The entry's full content (else its summary) is the body and its link is the URL; title,
    published date and feed title go into metadata.
    """

    location: str
    limits: Limits

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields one article per entry with content, and a Rejected per unusable entry."""
        headers: dict[str, str] = {}
        try:
            if is_url(self.location):
                fetched = fetch(self.location, self.limits, accept=_FEED_ACCEPT)
                data = fetched.body
                # Lets feedparser resolve relative links and honour the declared charset.
                headers["content-location"] = fetched.url
                if fetched.content_type:
                    headers["content-type"] = fetched.content_type
            else:
                data = read_input(Path(self.location), self.limits.max_input_bytes)
            check_binary(data)
        except SourceError as exc:
            yield Rejected.from_error(self.location, exc)
            return
        # A stream, not bytes or str: feedparser treats a string argument as a URL or path.
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        if not parsed.get("version") and not parsed.entries:
            problem = parsed.get("bozo_exception")
            detail = describe(problem) if problem else "no RSS/Atom feed found"
            yield Rejected(self.location, ProduceReason.INVALID_FEED, detail)
            return
        feed_title = parsed.feed.get("title")
        for index, entry in enumerate(parsed.entries):
            yield self._article(entry, index, feed_title)

    def _article(self, entry: Any, index: int, feed_title: str | None) -> RawArticle | Rejected:
        contents = [c.get("value", "") for c in entry.get("content", []) if c.get("value")]
        html: str = max(contents, key=len) if contents else entry.get("summary", "") or ""
        link = entry.get("link") or None
        if not html.strip():
            label = link or entry.get("title") or f"entry {index}"
            return Rejected(
                f"{self.location}#{index}", ProduceReason.EMPTY, f"{label}: no content or summary"
            )
        metadata: dict[str, str] = {}
        for key in ("title", "author", "id"):
            if isinstance(entry.get(key), str) and entry[key]:
                metadata["guid" if key == "id" else key] = entry[key]
        for key in ("published", "updated"):
            if key not in entry:
                continue
            iso = _struct_time_iso(entry.get(f"{key}_parsed"))
            value = iso or entry.get(key)
            if isinstance(value, str) and value:
                metadata.setdefault("published", value)
        if feed_title:
            metadata["feed_title"] = feed_title
        metadata["feed"] = self.location
        body = html.encode("utf-8")
        return RawArticle(
            id=article_id(link, html),
            source=self.location,
            url=link,
            content_type=ContentType.HTML,
            body=body,
            encoding="utf-8",
            metadata=metadata,
        )


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
    with path.open("rb") as fh:
        start = fh.read(2)
    opener = gzip.open if start == b"\x1f\x8b" else open
    with opener(path, "rb") as fh:
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
            _check_regular_file(self.path)
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
        except (ArchiveLoadFailed, OSError, EOFError, zlib.error, ValueError) as exc:
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
            check_binary(data)
        except SourceError as exc:
            return Rejected.from_error(where, exc)
        if not data.strip():
            return Rejected(where, ProduceReason.EMPTY, "empty response body")
        url = record.rec_headers.get_header("WARC-Target-URI") or url_from_html(data)
        encoding = html_encoding(data, _charset_param(content_type))
        fetched_at = _warc_date(record.rec_headers.get_header("WARC-Date"))
        metadata = {"warc_record": where}
        return RawArticle(
            id=article_id(url, decode_for_id(data, encoding)),
            source=where,
            url=url,
            content_type=ContentType.HTML,
            body=data,
            encoding=encoding,
            metadata=metadata,
            fetched_at=fetched_at or datetime.now(UTC),
        )


@dataclass(frozen=True)
class Unusable:
    """An input that cannot be read at all (missing, unsupported); yields its one rejection."""

    location: str
    reason: ProduceReason
    detail: str

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the single Rejected describing why this input is unusable."""
        yield Rejected(self.location, self.reason, self.detail)


# File name endings -> source kind. Longest endings first so ``.warc.gz`` beats ``.gz``.
_FILE_KINDS: tuple[tuple[str, str], ...] = (
    (".warc.gz", "warc"),
    (".warc", "warc"),
    (".jsonl.gz", "jsonl"),
    (".ndjson.gz", "jsonl"),
    (".jsonl", "jsonl"),
    (".ndjson", "jsonl"),
    (".html.gz", "html"),
    (".htm.gz", "html"),
    (".html", "html"),
    (".htm", "html"),
    (".xhtml", "html"),
    (".rss", "feed"),
    (".atom", "feed"),
    (".xml", "feed"),
    (".txt.gz", "text"),
    (".txt", "text"),
)

SUPPORTED_SUFFIXES = tuple(suffix for suffix, _ in _FILE_KINDS)


def file_source(path: Path, limits: Limits) -> Source | None:
    """The source for one file by its name ending, or None if the kind is not supported."""
    name = path.name.lower()
    kind = next((k for suffix, k in _FILE_KINDS if name.endswith(suffix)), None)
    if kind == "warc":
        return Warc(path, limits)
    if kind == "jsonl":
        return JsonLines(path, limits)
    if kind == "html":
        return HtmlFile(path, limits)
    if kind == "feed":
        return Feed(str(path), limits)
    if kind == "text":
        return TextFile(path, limits)
    return None


@dataclass(frozen=True)
class Directory:
    """A folder, searched recursively for supported files in sorted order (hidden ones skipped).

    Files with other endings are ignored: a folder of articles may also hold a README.
    """

    path: Path
    limits: Limits

    def files(self) -> Iterator[tuple[Path, Source] | Rejected]:
        """Each supported file with its source, in a deterministic order, or a walk error."""
        errors: list[OSError] = []
        for root, dirs, names in os.walk(self.path, onerror=errors.append):
            for error in errors:
                yield Rejected(
                    str(error.filename or root), ProduceReason.UNREADABLE, describe(error)
                )
            errors.clear()
            # Sorting in place also fixes the order os.walk descends in.
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(root, name)
                source = file_source(path, self.limits)
                if source is not None:
                    yield path, source
        for error in errors:
            yield Rejected(
                str(error.filename or self.path), ProduceReason.UNREADABLE, describe(error)
            )

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the articles of every supported file under the folder."""
        if not self.path.is_dir():
            yield Rejected(str(self.path), ProduceReason.MISSING, "no such directory")
            return
        for item in self.files():
            if isinstance(item, Rejected):
                yield item
            else:
                yield from item[1].articles()


def source_for(location: str | Path, limits: Limits) -> Source:
    """The source for a CLI argument: an http(s) feed URL, a directory or a supported file.

    Never raises: a missing or unsupported input becomes a source that yields its rejection.
    """
    text = str(location)
    if isinstance(location, str) and is_url(location):
        return Feed(location, limits)
    path = Path(location)
    if path.is_dir():
        return Directory(path, limits)
    if not path.exists():
        return Unusable(text, ProduceReason.MISSING, "no such file or directory")
    source = file_source(path, limits)
    if source is None:
        endings = ", ".join(SUPPORTED_SUFFIXES)
        return Unusable(
            text, ProduceReason.UNSUPPORTED, f"unknown file type (supported: {endings})"
        )
    return source


def expand(locations: Iterable[str | Path], limits: Limits) -> list[Source]:
    """One source per file for every location, directories walked up front.

    Used when the number of inputs should be known before publishing (a progress bar with a
    total); walk errors become sources that yield their rejection.
    """
    sources: list[Source] = []
    for location in locations:
        source = source_for(location, limits)
        if not isinstance(source, Directory) or not source.path.is_dir():
            sources.append(source)
            continue
        for item in source.files():
            if isinstance(item, Rejected):
                sources.append(Unusable(item.source, item.reason, item.detail))
            else:
                sources.append(item[1])
    return sources
