"""Sources as data: the feeds file that names every feed and news sitemap to crawl.

A TOML file with one ``[[feed]]`` table per source; only ``url`` is required::

    [[feed]]
    url = "https://feeds.bbci.co.uk/news/world/rss.xml"
    site = "BBC News"          # site name, for articles whose page does not say
    interval_minutes = 15      # how often to poll (default NEWSFLOW_CRAWL_POLL_INTERVAL_SECONDS)
    language = "en"            # language hint, for text too short to detect
    group = "uk"               # the poll_feeds DAG polls one group per mapped task

A source is an RSS or Atom feed, a (Google News) sitemap or a sitemap index: the poller tells
them apart by their content. Edit the file by hand or with `newsflow feeds add|remove`
(which keep its comments and layout), or import an OPML subscription list with
`newsflow feeds import`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import tomlkit
from defusedxml import ElementTree
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tomlkit.exceptions import TOMLKitError

from newsflow.reading.files import read_input
from newsflow.reading.http import is_url
from newsflow.redaction import redact_url
from schemas.failures import SourceError

log = logging.getLogger(__name__)

#: The table name of one source in the feeds file.
TABLE = "feed"
_HEADER = (
    "newsflow feeds file: one [[feed]] table per RSS/Atom feed or news sitemap.\n"
    "Keys: url (required), site, interval_minutes, language, group. See producers/feeds.py."
)


class FeedsFileError(ValueError):
    """The feeds file cannot be read, or says something that is not a list of feeds."""


def feed_url(url: str) -> str:
    """A feed's URL as the feeds file keeps it: scheme and host in lower case, no fragment
    (the server never sees one), so one feed written two ways is listed, and polled, once;
    and no ``user:password@``, which the crawler never sends (its connection goes to the
    checked address) and which was copied into every topic and document of the feed."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc
    host = parts.hostname or ""
    if host:
        netloc = host if ":" not in host else f"[{host}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


class FeedSpec(BaseModel):
    """One feed or sitemap to poll, as the feeds file lists it."""

    model_config = ConfigDict(extra="forbid")

    url: str
    site: str | None = None
    interval_minutes: float | None = Field(default=None, gt=0)
    language: str | None = None
    group: str | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip()
        if not is_url(value) or not urlsplit(value).hostname:
            raise ValueError(f"not an http(s) URL: {value!r}")
        if urlsplit(value).username is not None:
            log.warning(
                "%s: the crawler does not log in to feeds; the URL's user and password are dropped",
                redact_url(value),
            )
        return feed_url(value)

    @property
    def group_name(self) -> str:
        """The group the DAG polls this feed in: its own, else its host."""
        return self.group or (urlsplit(self.url).hostname or self.url)

    def as_table(self) -> dict[str, Any]:
        """The feed as a TOML table: only the keys that are set."""
        return self.model_dump(exclude_none=True)


def parse_feeds(text: str, where: str = "feeds file") -> list[FeedSpec]:
    """The feeds a feeds file's text lists, in order; FeedsFileError if it is malformed."""
    try:
        data = tomlkit.parse(text).unwrap()
    except TOMLKitError as exc:
        raise FeedsFileError(f"{where}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {TABLE})
    if unknown:
        raise FeedsFileError(f"{where}: unknown top-level keys {unknown} (expected [[{TABLE}]])")
    tables = data.get(TABLE, [])
    if not isinstance(tables, list):
        raise FeedsFileError(f"{where}: `{TABLE}` must be an array of tables ([[{TABLE}]])")
    feeds: list[FeedSpec] = []
    for n, table in enumerate(tables, 1):
        try:
            feeds.append(FeedSpec.model_validate(table))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first.get("loc", ())) or "entry"
            raise FeedsFileError(f"{where}: feed {n}: {key}: {first['msg']}") from None
    return feeds


def load_feeds(path: Path) -> list[FeedSpec]:
    """The feeds ``path`` lists; FeedsFileError if it is missing or malformed."""
    if not path.exists():
        raise FeedsFileError(f"{path}: no such feeds file")
    if path.is_dir():
        raise FeedsFileError(f"{path}: a directory, not a feeds file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FeedsFileError(f"{path}: cannot read the feeds file: {exc}") from None
    return parse_feeds(text, str(path))


def _document(path: Path) -> tomlkit.TOMLDocument:
    if not path.exists():
        doc = tomlkit.document()
        for line in _HEADER.splitlines():
            doc.add(tomlkit.comment(line))
        doc.add(tomlkit.nl())
        return doc
    text = path.read_text(encoding="utf-8")
    parse_feeds(text, str(path))  # refuse to edit a file that is already wrong
    return tomlkit.parse(text)


def add_feeds(path: Path, specs: Iterable[FeedSpec]) -> list[FeedSpec]:
    """Appends the feeds not listed yet (same URL) to ``path``, keeping its comments and
    layout; creates the file if need be. Returns the feeds it added."""
    doc = _document(path)
    listed = {spec.url for spec in parse_feeds(tomlkit.dumps(doc))}
    tables = doc.get(TABLE)
    if tables is None:
        tables = tomlkit.aot()
        doc.append(TABLE, tables)
    added: list[FeedSpec] = []
    for spec in specs:
        if spec.url in listed:
            continue
        listed.add(spec.url)
        tables.append(tomlkit.item(spec.as_table()))
        added.append(spec)
    if added:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return added


def _listed_url(table: Any) -> str:
    listed = str(table.get("url", "")).strip()
    return feed_url(listed) if is_url(listed) else listed


def remove_feed(path: Path, url: str) -> bool:
    """Removes the feed with ``url`` from ``path``; False when it was not listed."""
    doc = _document(path)
    tables = doc.get(TABLE)
    if tables is None:
        return False
    url = feed_url(url) if is_url(url.strip()) else url
    keep = [n for n, table in enumerate(tables) if _listed_url(table) != url]
    if len(keep) == len(tables):
        return False
    for n in reversed(range(len(tables))):
        if n not in keep:
            del tables[n]
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")
    return True


def opml_feeds(data: bytes, where: str = "OPML") -> list[FeedSpec]:
    """The feeds of an OPML subscription list (every outline with an ``xmlUrl``).

    Parsed with defusedxml: no DTDs, entities or external references, so a hostile file
    cannot expand itself (billion laughs) or read local files (XXE).
    """
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except Exception as exc:  # defusedxml's refusals and expat's parse errors alike
        raise FeedsFileError(f"{where}: not a usable OPML file: {exc}") from None
    feeds: list[FeedSpec] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not is_url(url):
            continue
        name = outline.get("title") or outline.get("text")
        language = outline.get("language")
        feeds.append(FeedSpec(url=url, site=name or None, language=language or None))
    return feeds


def read_opml(path: Path, max_bytes: int) -> list[FeedSpec]:
    """The feeds of an OPML file (read within ``max_bytes``)."""
    try:
        data = read_input(path, max_bytes)
    except SourceError as exc:
        raise FeedsFileError(f"{path}: {exc}") from None
    return opml_feeds(data, str(path))


def feeds_for(locations: Iterable[str], max_bytes: int) -> list[FeedSpec]:
    """The feeds named on a command line: feeds files (.toml), OPML files or feed URLs."""
    feeds: list[FeedSpec] = []
    for location in locations:
        if is_url(location):
            feeds.append(FeedSpec(url=location))
        elif "://" in location:
            raise FeedsFileError(f"{location}: only http and https feeds are crawled")
        elif location.lower().endswith((".opml", ".opml.xml")):
            feeds.extend(read_opml(Path(location), max_bytes))
        else:
            feeds.extend(load_feeds(Path(location)))
    unique: dict[str, FeedSpec] = {}
    for spec in feeds:
        unique.setdefault(spec.url, spec)
    return list(unique.values())


def host_by_host(feeds: Iterable[FeedSpec]) -> list[FeedSpec]:
    """The feeds in turns, one of each host per turn (in the order hosts are first seen).

    A pass polls a bounded number of feeds at once, and a host's requests wait for their
    politeness turn: fifty feeds of one site listed together took every slot, waiting on
    that site, while the feeds of other sites waited for a slot.
    """
    queues: dict[str, list[FeedSpec]] = {}
    for spec in feeds:
        queues.setdefault(urlsplit(spec.url).hostname or spec.url, []).append(spec)
    turns: list[FeedSpec] = []
    for turn in range(max((len(q) for q in queues.values()), default=0)):
        turns.extend(q[turn] for q in queues.values() if turn < len(q))
    return turns


def groups_of(feeds: Iterable[FeedSpec]) -> dict[str, list[FeedSpec]]:
    """The feeds by group (their own, else their host), in the order first seen."""
    groups: dict[str, list[FeedSpec]] = {}
    for spec in feeds:
        groups.setdefault(spec.group_name, []).append(spec)
    return groups
