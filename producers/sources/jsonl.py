"""JSON Lines files: one article object per line, each line accepted or rejected alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from newsflow.reading.decode import whole_chars
from newsflow.reading.files import READ_ERRORS, Inflated, open_input, path_text, read_line
from newsflow.reading.identity import article_id, url_from_html
from newsflow.reading.sniff import SNIFF_BYTES, bom_encoding, unmarked_utf16
from newsflow.settings import Limits
from producers.sources.base import Rejected, require_text
from schemas.article import ContentType, RawArticle, safe_link
from schemas.failures import SourceError, describe, json_problem
from schemas.reasons import ProduceReason

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
        source = path_text(self.path)
        limit = self.limits.max_input_bytes
        try:
            fh, _ = open_input(self.path, limit)
            with fh:
                head = fh.read(SNIFF_BYTES)
            require_text(head)
            wide = bom_encoding(head) in ("utf-16", "utf-32") or unmarked_utf16(head)
            if wide:
                # Lines are split at the byte "\n", which cuts UTF-16 text between a
                # character's two bytes: every line but the first came out as invalid JSON.
                detail = "JSON Lines in UTF-16 or UTF-32; only UTF-8 is read (as the format asks)"
                yield Rejected(source, ProduceReason.UNSUPPORTED, detail)
                return
            fh, _ = open_input(self.path, limit)
            with fh:
                lineno = 0
                while True:
                    line, too_long = read_line(fh, limit)
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
        except Inflated as exc:
            yield Rejected(source, ProduceReason.OVERSIZED, describe(exc))
        except READ_ERRORS as exc:
            yield Rejected(source, ProduceReason.UNREADABLE, describe(exc))

    def _article(self, line: bytes, where: str) -> RawArticle | Rejected:
        try:
            obj = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both are
            return Rejected(where, ProduceReason.INVALID_JSON, json_problem(exc))
        except RecursionError:  # "[[[[..." thousands deep: the parser recurses per level
            return Rejected(where, ProduceReason.INVALID_JSON, "nested too deeply")
        if not isinstance(obj, dict):
            return Rejected(
                where, ProduceReason.INVALID_JSON, f"a JSON {type(obj).__name__}, not an object"
            )
        # "\\ud800" is valid JSON, but half a character no message can encode.
        obj = {key: whole_chars(v) if isinstance(v, str) else v for key, v in obj.items()}
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
        if url is not None and safe_link(url) is None:
            # The file's own claim, so refused with its reason rather than dropped unseen.
            return Rejected(
                where, ProduceReason.UNSUPPORTED, f"url {url[:80]!r} is not an http(s) URL"
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
