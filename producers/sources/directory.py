"""Choosing the source for a CLI argument: a feed URL, a folder walked in order, or a file
whose name ending says its kind."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from newsflow.reading.files import path_text
from newsflow.reading.http import is_url
from newsflow.settings import CrawlSettings, Limits
from producers.sources.base import Rejected, Source
from producers.sources.feed import Feed
from producers.sources.html import HtmlFile
from producers.sources.jsonl import JsonLines
from producers.sources.text import TextFile
from producers.sources.warc import Warc
from schemas.article import RawArticle
from schemas.failures import describe
from schemas.reasons import ProduceReason

#: A URL's scheme ("ftp:", "mailto:"); a Windows drive letter ("C:") is one letter only.
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


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


def _link_out_of(path: Path, folder: str) -> str | None:
    """Where ``path`` leads if it is a symbolic link to a file outside ``folder`` (a real
    path), else None.

    A folder may be a drop box that others write to: a link in it named ``x.txt`` to
    ``~/.stack/secrets.json`` or ``~/.ssh/id_ed25519`` was read with the rights of whoever
    ran `produce` and published, indexed and searchable. A link within the folder is read
    (``latest.html`` to ``2026/12/story.html``), as are files named on the command line.
    """
    if not path.is_symlink():
        return None
    target = os.path.realpath(path)
    if os.path.commonpath([folder, target]) == folder:
        return None
    return path_text(target)


@dataclass(frozen=True)
class Directory:
    """A folder, searched recursively for supported files in sorted order (hidden ones skipped).

    Files with other endings are ignored: a folder of articles may also hold a README. Links
    to folders are not walked, and a link to a file outside the folder is refused.
    """

    path: Path
    limits: Limits

    def files(self) -> Iterator[tuple[Path, Source] | Rejected]:
        """Each supported file with its source, in a deterministic order, or a walk error.

        A folder without one supported file is a rejection of its own: `produce` printed
        "0 published ... 0 rejected" and exited 0 for a folder of .md or .json files.
        """
        supported = others = 0
        errors: list[OSError] = []
        inside = os.path.realpath(self.path)
        for root, dirs, names in os.walk(self.path, onerror=errors.append):
            for error in errors:
                yield Rejected(
                    path_text(error.filename or root), ProduceReason.UNREADABLE, describe(error)
                )
            errors.clear()
            # Sorting in place also fixes the order os.walk descends in.
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = Path(root, name)
                source = file_source(path, self.limits)
                if source is None:
                    others += 1
                elif (outside := _link_out_of(path, inside)) is not None:
                    supported += 1
                    detail = f"a symbolic link out of the folder (to {outside}), not followed"
                    yield Rejected(path_text(path), ProduceReason.UNREADABLE, detail)
                else:
                    supported += 1
                    yield path, source
        for error in errors:
            yield Rejected(
                path_text(error.filename or self.path), ProduceReason.UNREADABLE, describe(error)
            )
        if not supported:
            where = path_text(self.path)
            if others:
                endings = ", ".join(SUPPORTED_SUFFIXES)
                detail = f"{others} file(s), none of a supported type ({endings})"
                yield Rejected(where, ProduceReason.UNSUPPORTED, detail)
            else:
                yield Rejected(where, ProduceReason.EMPTY, "no files (hidden ones are skipped)")

    def articles(self) -> Iterator[RawArticle | Rejected]:
        """Yields the articles of every supported file under the folder."""
        if not self.path.is_dir():
            yield Rejected(path_text(self.path), ProduceReason.MISSING, "no such directory")
            return
        for item in self.files():
            if isinstance(item, Rejected):
                yield item
            else:
                yield from item[1].articles()


def source_for(location: str | Path, limits: Limits, crawl: CrawlSettings | None = None) -> Source:
    """The source for a CLI argument: an http(s) feed URL, a directory or a supported file.

    A feed URL is fetched under ``crawl``'s rules (None: NEWSFLOW_CRAWL_*). Never raises: a
    missing or unsupported input becomes a source that yields its rejection.
    """
    text = path_text(location)
    if isinstance(location, str) and is_url(location):
        return Feed(location, limits, crawl)
    path = Path(location)
    if path.is_dir():
        return Directory(path, limits)
    if not path.exists():
        if _SCHEME.match(text):  # ftp://, file://, mailto: ... are not paths either
            scheme = text.split(":", 1)[0]
            return Unusable(
                text,
                ProduceReason.UNSUPPORTED,
                f"{scheme}: URLs are not read, only http and https ones",
            )
        return Unusable(text, ProduceReason.MISSING, "no such file or directory")
    source = file_source(path, limits)
    if source is None:
        endings = ", ".join(SUPPORTED_SUFFIXES)
        return Unusable(
            text, ProduceReason.UNSUPPORTED, f"unknown file type (supported: {endings})"
        )
    return source


def expand(
    locations: Iterable[str | Path], limits: Limits, crawl: CrawlSettings | None = None
) -> list[Source]:
    """One source per file for every location, directories walked up front.

    Used when the number of inputs should be known before publishing (a progress bar with a
    total); walk errors become sources that yield their rejection.
    """
    sources: list[Source] = []
    for location in locations:
        source = source_for(location, limits, crawl)
        if not isinstance(source, Directory) or not source.path.is_dir():
            sources.append(source)
            continue
        for item in source.files():
            if isinstance(item, Rejected):
                sources.append(Unusable(item.source, item.reason, item.detail))
            else:
                sources.append(item[1])
    return sources
