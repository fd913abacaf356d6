"""Input kinds as data: one small class per source type, each yielding RawArticle or Rejected.

Every source turns its input into ``RawArticle`` messages with a stable id. A problem with one
input (missing, unreadable, oversized, binary, malformed) is yielded as a ``Rejected`` value
with a reason, never raised, so one bad file cannot stop a batch.

Size limits: a whole file (text, HTML, feed) must fit in ``Limits.max_input_bytes``; for
containers of many articles (JSON Lines, WARC) the limit applies to each record instead.

One module per kind: text.py, html.py, jsonl.py, feed.py, warc.py; directory.py picks the
source for a path or URL (``source_for``, ``expand``); base.py holds what they share.
"""

from producers.sources.base import Rejected, Source
from producers.sources.directory import (
    SUPPORTED_SUFFIXES,
    Directory,
    Unusable,
    expand,
    file_source,
    source_for,
)
from producers.sources.feed import Feed
from producers.sources.html import HtmlFile
from producers.sources.jsonl import JsonLines
from producers.sources.text import TextFile
from producers.sources.warc import Warc

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Directory",
    "Feed",
    "HtmlFile",
    "JsonLines",
    "Rejected",
    "Source",
    "TextFile",
    "Unusable",
    "Warc",
    "expand",
    "file_source",
    "source_for",
]
