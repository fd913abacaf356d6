"""Reading a topic message into the model its topic carries, or saying why it is not one."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.article import Article, RawArticle
from schemas.crawl import Link
from schemas.failures import PermanentError
from schemas.reasons import DecodeReason, Stage
from schemas.wire import FrameError, is_frame, split_frame


def _decode_error(exc: ValidationError) -> PermanentError:
    kinds = {e["type"] for e in exc.errors()}
    invalid_json = kinds & {"json_invalid", "json_type"}
    reason = DecodeReason.UNDECODABLE if invalid_json else DecodeReason.SCHEMA_INVALID
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    return PermanentError(Stage.DECODE, reason, f"{where}: {first.get('msg', exc)}")


def parse_raw(value: bytes | None) -> RawArticle:
    """The RawArticle in a raw-topic message, framed (`schemas.wire`) or JSON, or
    PermanentError saying why it is not one."""
    value = value or b""
    try:
        if not is_frame(value):
            return RawArticle.model_validate_json(value)
        header, body = split_frame(value)
        if not isinstance(header, dict) or "body" in header:
            what = "has a body" if isinstance(header, dict) else f"is {type(header).__name__}"
            raise PermanentError(
                Stage.DECODE,
                DecodeReason.SCHEMA_INVALID,
                f"frame header: {what}, not the article's other fields",
            )
        return RawArticle.model_validate({**header, "body": body})
    except FrameError as exc:
        raise PermanentError(Stage.DECODE, DecodeReason.UNDECODABLE, str(exc)) from exc
    except ValidationError as exc:
        raise _decode_error(exc) from exc


def parse_article(value: bytes | None) -> Article:
    """The Article in a clean-topic message, or PermanentError saying why it is not one."""
    try:
        return Article.model_validate_json(value or b"")
    except ValidationError as exc:
        raise _decode_error(exc) from exc


def parse_link(value: bytes | None) -> Link:
    """The Link in a links-topic message, or PermanentError saying why it is not one."""
    try:
        return Link.model_validate_json(value or b"")
    except ValidationError as exc:
        raise _decode_error(exc) from exc
