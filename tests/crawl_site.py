"""A news site on loopback for the crawler's tests and benchmark: feeds, pages and trouble.

``NewsSite`` serves an RSS feed and a Google News sitemap (both with ETag and Last-Modified,
answering 304 to a matching conditional request), a robots.txt, article pages, and pages
that misbehave: slow, 500 then 200, 429 with Retry-After then 200, a redirect loop, 20 MB, a
PDF, a 404. Every request is logged with its headers and start and end time (the end is
when the client hung up, for a response the client abandoned), and the most requests it
ever served at once is kept, so a test can check the crawler's politeness from the server's
side.
"""

from __future__ import annotations

import gzip
import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
FIXTURE_PAGE = HERE / "fixtures" / "crawl" / "harbour.html"
FUNDUS = HERE.parent.parent / "shared" / "corpus" / "fundus-news-dev"

#: The fixture page's last sentence: found in the index only if the whole page was fetched.
FIXTURE_LAST = (
    "The harbour board will publish its final decision on the dredging contract in the "
    "first week of March."
)


@dataclass
class Logged:
    """One request the site answered."""

    path: str
    status: int
    headers: dict[str, str]
    started: float
    ended: float = 0.0


@dataclass
class Item:
    """A feed entry: where it links, its title and its one-line summary."""

    link: str
    title: str
    summary: str
    published: str = "Mon, 23 Nov 2026 09:30:00 GMT"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[["_Handler"], Response | None]


def variant(page: bytes, name: str) -> bytes:
    """The fixture page with its own title and last sentence (another article, same shape)."""
    text = page.decode("utf-8")
    text = text.replace("dredging of the north channel", f"dredging of the {name} channel")
    text = text.replace(FIXTURE_LAST, variant_last(name))
    return text.encode("utf-8")


def variant_last(name: str) -> str:
    return f"The {name} board will publish its final ruling on the contract in early spring."


def rss(title: str, items: list[Item]) -> bytes:
    entries = "".join(
        f"<item><title>{escape(i.title)}</title><link>{escape(i.link)}</link>"
        f"<guid>{escape(i.link)}</guid><pubDate>{i.published}</pubDate>"
        f"<description>{escape(i.summary)}</description></item>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>http://example.invalid/</link>"
        f"<description>test feed</description>{entries}</channel></rss>"
    ).encode()


def news_sitemap(items: list[Item]) -> bytes:
    urls = "".join(
        f"<url><loc>{escape(i.link)}</loc><news:news><news:publication><news:name>Loopback"
        "</news:name><news:language>en</news:language></news:publication>"
        f"<news:publication_date>2026-11-23T09:30:00Z</news:publication_date>"
        f"<news:title>{escape(i.title)}</news:title></news:news></url>"
        for i in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">'
        f"{urls}</urlset>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    site: Site

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (a worker killed, a connection it closed) is no server error:
        # printed, each would be a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Site:
    """A threaded HTTP server on loopback (127.0.0.1, or another 127.x address to stand for
    another host) with routes, a request log and a concurrency gauge."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        #: Answers the paths that have no route (None: 404).
        self.fallback: Route | None = None
        self.log: list[Logged] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server((host, 0), _Handler)
        self._server.site = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def start(self) -> Site:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def requests(self, path: str | None = None) -> list[Logged]:
        with self._lock:
            return [r for r in self.log if path is None or r.path == path]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests()]

    def _enter(self, entry: Logged) -> None:
        # Logged as it arrives: a client may have its answer before the handler returns.
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.log.append(entry)

    def _leave(self, entry: Logged) -> None:
        with self._lock:
            self.in_flight -= 1
            entry.ended = time.monotonic()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        site = self.server.site
        entry = Logged(
            path=self.path,
            status=0,
            headers={k.lower(): v for k, v in self.headers.items()},
            started=time.monotonic(),
        )
        site._enter(entry)
        try:
            route = site.routes.get(self.path.split("?", 1)[0]) or site.fallback
            response = route(self) if route is not None else Response(404, b"not here")
            if response is not None:  # None: the route wrote its own answer
                entry.status = response.status
                self.send_response(response.status)
                headers = {"Content-Length": str(len(response.body)), **response.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(response.body)
            else:
                entry.status = 200
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            site._leave(entry)

    def client_gone(self) -> bool:
        """Whether the client closed its end (checked without reading its data)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True


def _html(body: bytes) -> Response:
    return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})


def conditional(body: Callable[[], bytes], version: Callable[[], int], content_type: str) -> Route:
    """A document with validators that answers 304 when the client already has its version."""

    def route(handler: _Handler) -> Response:
        etag = f'"v{version()}"'
        modified = formatdate(1_700_000_000 + version() * 3600, usegmt=True)
        if handler.headers.get("If-None-Match") == etag:
            return Response(304, b"", {"ETag": etag, "Last-Modified": modified})
        return Response(
            200, body(), {"Content-Type": content_type, "ETag": etag, "Last-Modified": modified}
        )

    return route


def slow(seconds: float) -> Route:
    """Headers at once, then nothing for ``seconds`` (or until the client gives up)."""

    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        handler.wfile.flush()
        until = time.monotonic() + seconds
        while time.monotonic() < until and not handler.server.site.stopping.is_set():
            if handler.client_gone():
                return
            time.sleep(0.05)

    return route


def huge(size: int) -> Route:
    """A page of ``size`` bytes, sent in pieces until done or the client hangs up."""

    def route(handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(size))
        handler.end_headers()
        chunk = b"<p>" + b"x" * 65_530 + b"</p>"
        sent = 0
        while sent < size and not handler.server.site.stopping.is_set():
            handler.wfile.write(chunk[: size - sent])
            sent += len(chunk)

    return route


def fails_first(first: Response, then: Response) -> Route:
    """``first`` on the first request, ``then`` on every later one."""
    calls = [0]
    lock = threading.Lock()

    def route(handler: _Handler) -> Response:
        with lock:
            calls[0] += 1
            n = calls[0]
        return first if n == 1 else then

    return route


def redirect(to: str) -> Route:
    return lambda handler: Response(302, b"", {"Location": to})


@dataclass
class Corpus:
    """Real news pages from ../shared (fundus-news-dev), with the phrase that ends each."""

    pages: dict[str, tuple[bytes, str, str]]  # id -> (html, title, last phrase)


def fundus_pages(ids: list[str]) -> Corpus | None:
    """The given fundus-news-dev pages, or None when the shared corpus is not there."""
    gold_file, meta_file = FUNDUS / "gold.json", FUNDUS / "meta.json"
    if not gold_file.exists() or not meta_file.exists():
        return None
    gold, meta = json.loads(gold_file.read_text()), json.loads(meta_file.read_text())
    pages: dict[str, tuple[bytes, str, str]] = {}
    for page_id in ids:
        paragraphs = [p for p in gold[page_id].split("\n\n") if len(p.split()) >= 8]
        phrase = " ".join(paragraphs[-1].split()[-8:])
        html = gzip.decompress((FUNDUS / "pages" / f"{page_id}.html.gz").read_bytes())
        pages[page_id] = (html, meta[page_id]["title"], phrase)
    return Corpus(pages)


def html_page(body: bytes) -> Route:
    return lambda handler: _html(body)


def pdf() -> Route:
    body = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
    return lambda handler: Response(200, body, {"Content-Type": "application/pdf"})


def robots(text: str) -> Route:
    return lambda handler: Response(200, text.encode(), {"Content-Type": "text/plain"})
