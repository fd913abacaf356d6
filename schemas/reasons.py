"""The one vocabulary of failure: the pipeline's stages and, per stage, why something failed.

A rejected input (``producers.sources.Rejected``), a dead letter (``DeadLetter.error_type``) and
every typed failure (``schemas.failures``) names its reason with a member of one of these enums;
the member's value is what logs, dead letters and command output show.
"""

from __future__ import annotations

from enum import StrEnum


class Stage(StrEnum):
    """Where in the pipeline a message failed."""

    PRODUCE = "produce"
    FETCH = "fetch"
    DECODE = "decode"
    CLEAN = "clean"
    TAG = "tag"
    INDEX = "index"


class ProduceReason(StrEnum):
    """Why an input (or one record of it) was not published."""

    MISSING = "missing"
    UNREADABLE = "unreadable"
    OVERSIZED = "oversized"
    BINARY = "binary"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    INVALID_JSON = "invalid-json"
    INVALID_FEED = "invalid-feed"
    INVALID_WARC = "invalid-warc"
    FETCH_FAILED = "fetch-failed"


class FetchReason(StrEnum):
    """Why a linked page was not fetched (the link is dead-lettered with this reason)."""

    NOT_FOUND = "not_found"  # 404 or 410: the page is gone
    HTTP_ERROR = "http_error"  # any other refusal (401, 403, 451, an unexpected status)
    SERVER_ERROR = "server_error"  # 5xx, still after the retries
    RATE_LIMITED = "rate_limited"  # 429 after the retries, or a Retry-After beyond our wait
    ROBOTS_DISALLOWED = "robots_disallowed"  # robots.txt forbids it
    # robots.txt could not be had (5xx, 429, no answer) over every deferral of the link: the
    # site was down, not refusing; `newsflow dlq replay` once it answers.
    ROBOTS_UNAVAILABLE = "robots_unavailable"
    TOO_LARGE = "too_large"  # larger than NEWSFLOW_MAX_INPUT_BYTES
    NOT_HTML = "not_html"  # a PDF, an image, JSON: not a web page
    REDIRECT_LOOP = "redirect_loop"  # a redirect back to a URL already visited
    TOO_MANY_REDIRECTS = "too_many_redirects"
    FETCH_TIMEOUT = "fetch_timeout"  # connect, read or total time limit, still after retries
    UNREACHABLE = "unreachable"  # no DNS answer, connection refused or reset
    PRIVATE_ADDRESS = "private_address"  # resolves to loopback, private, link-local, metadata
    UNSUPPORTED_URL = "unsupported_url"  # not http(s), or no host


class DecodeReason(StrEnum):
    """Why a topic message is not the model its topic carries."""

    UNDECODABLE = "undecodable"  # not JSON at all, nor a whole raw-article frame
    SCHEMA_INVALID = "schema_invalid"  # JSON, but not a valid RawArticle / Article


class CleanReason(StrEnum):
    """Why a raw article could not become an article."""

    EMPTY = "empty"
    BINARY = "binary"
    TOO_LARGE = "too_large"
    BAD_JSON = "bad_json"
    NO_ARTICLE_TEXT = "no_article_text"


class IndexReason(StrEnum):
    """Why Elasticsearch did not store an article."""

    # The document was refused (strict mapping, unparsable field...); the message starts with
    # Elasticsearch's own error type.
    REJECTED = "rejected"


class AnyStageReason(StrEnum):
    """Failures that can happen in any stage."""

    # A result larger than its topic accepts (max.message.bytes).
    TOO_LARGE_FOR_TOPIC = "too_large_for_topic"
    # An exception the stage's code did not expect (a bug); the message names its type.
    UNEXPECTED = "unexpected_error"
    # The stage took longer than its time limit on the message; its process was killed.
    TIMEOUT = "timeout"
    # The stage's process died on the message (a crash in C code, out of memory).
    STAGE_CRASHED = "stage_crashed"
    # The stage needed more memory than its process may have (Limits.stage_memory_mb).
    OUT_OF_MEMORY = "out_of_memory"


Reason = ProduceReason | FetchReason | DecodeReason | CleanReason | IndexReason | AnyStageReason

#: The reasons each stage may give, in the order they are looked up.
STAGE_REASONS: dict[Stage, tuple[type[StrEnum], ...]] = {
    Stage.PRODUCE: (ProduceReason, AnyStageReason),
    Stage.FETCH: (FetchReason, AnyStageReason),
    Stage.DECODE: (DecodeReason, AnyStageReason),
    Stage.CLEAN: (CleanReason, AnyStageReason),
    Stage.TAG: (AnyStageReason,),
    Stage.INDEX: (IndexReason, AnyStageReason),
}


def reason_for(stage: Stage, value: str) -> Reason:
    """The member of ``stage``'s vocabulary whose value is ``value``; ValueError if none is."""
    for vocabulary in STAGE_REASONS[stage]:
        try:
            member = vocabulary(value)
        except ValueError:
            continue
        assert isinstance(member, Reason)  # every vocabulary above is one of the Reason enums
        return member
    raise ValueError(f"{value!r} is not a reason of the {stage} stage")
