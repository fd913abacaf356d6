"""Unit tests of every source kind on small fixtures, and of per-input rejection."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warc_samples import warc_record
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from newsflow.reading.identity import article_id, canonical_url
from newsflow.settings import CrawlSettings, Limits
from producers.feeds import FeedSpec
from producers.sources import (
    Directory,
    Feed,
    HtmlFile,
    JsonLines,
    Rejected,
    TextFile,
    Unusable,
    Warc,
    expand,
    source_for,
)
from producers.sources.feed import parse_feed
from schemas.article import ContentType, RawArticle, without_userinfo
from schemas.crawl import SUMMARY_ONLY, FeedState, Link
from schemas.reasons import ProduceReason

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"


@pytest.fixture
def settings() -> Limits:
    """Default limits, independent of the environment's NEWSFLOW_* overrides."""
    return Limits(max_input_bytes=5_000_000, http_connect_timeout=2.0, http_read_timeout=2.0)


def _split(items: Iterator[RawArticle | Rejected]) -> tuple[list[RawArticle], list[Rejected]]:
    articles: list[RawArticle] = []
    rejected: list[Rejected] = []
    for item in items:
        if isinstance(item, Rejected):
            rejected.append(item)
        else:
            articles.append(item)
    return articles, rejected


# --- Text and HTML files --------------------------------------------------------------------


def test_text_file_is_one_text_article_identified_by_content(settings: Limits) -> None:
    path = FIXTURES / "article.txt"
    [article] = list(TextFile(path, settings).articles())
    assert isinstance(article, RawArticle)
    assert article.content_type is ContentType.TEXT
    assert article.body == path.read_bytes()
    assert article.encoding == "utf-8"
    assert article.url is None
    assert article.source == str(path)
    assert article.id == article_id(None, path.read_text(encoding="utf-8"))


def test_text_with_other_whitespace_gets_the_same_id(settings: Limits, tmp_path: Path) -> None:
    original = (FIXTURES / "article.txt").read_text(encoding="utf-8")
    reflowed = tmp_path / "reflowed.txt"
    reflowed.write_text("\n\n  " + " ".join(original.split()) + "  \n", encoding="utf-8")
    [a] = TextFile(FIXTURES / "article.txt", settings).articles()
    [b] = TextFile(reflowed, settings).articles()
    assert isinstance(a, RawArticle) and isinstance(b, RawArticle)
    assert a.id == b.id


def test_utf16_text_with_bom_is_text_not_binary(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "utf16.txt"
    path.write_bytes("Zürich votes on housing.".encode("utf-16"))
    [article] = TextFile(path, settings).articles()
    assert isinstance(article, RawArticle)
    assert article.encoding == "utf-16"
    assert article.id == article_id(None, "Zürich votes on housing.")


def test_html_file_takes_its_url_from_the_canonical_link(settings: Limits) -> None:
    path = FIXTURES / "page.html"
    [article] = HtmlFile(path, settings).articles()
    assert isinstance(article, RawArticle)
    assert article.content_type is ContentType.HTML
    assert article.body == path.read_bytes()
    assert article.encoding == "utf-8"
    assert article.url is not None and article.url.startswith(
        "https://news.example.com/2026/11/rail-strike-called-off/"
    )
    assert article.id == article_id("https://news.example.com/2026/11/rail-strike-called-off", "")


def test_html_declared_charset_and_og_url(settings: Limits) -> None:
    [article] = HtmlFile(FIXTURES / "nested" / "latin1.htm", settings).articles()
    assert isinstance(article, RawArticle)
    assert article.encoding == "iso8859-1"
    assert article.url == "https://lemonde.example.org/economie/article-42.html"
    assert "électricité".encode("latin-1") in article.body


def test_gzipped_html_is_the_same_article(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "page.html.gz"
    path.write_bytes(gzip.compress((FIXTURES / "page.html").read_bytes()))
    [plain] = HtmlFile(FIXTURES / "page.html", settings).articles()
    [zipped] = source_for(path, settings).articles()
    assert isinstance(plain, RawArticle) and isinstance(zipped, RawArticle)
    assert (zipped.id, zipped.body) == (plain.id, plain.body)


def test_html_without_url_is_identified_by_content(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "bare.html"
    path.write_text("<html><body><p>Plain page.</p></body></html>", encoding="utf-8")
    [article] = HtmlFile(path, settings).articles()
    assert isinstance(article, RawArticle)
    assert article.url is None
    assert article.id == article_id(None, path.read_text(encoding="utf-8"))


# --- JSON Lines -----------------------------------------------------------------------------


def test_json_lines_articles_and_bad_lines(settings: Limits) -> None:
    path = FIXTURES / "articles.jsonl"
    articles, rejected = _split(JsonLines(path, settings).articles())
    assert [a.source for a in articles] == [f"{path}:{n}" for n in (1, 2, 4, 5)]
    assert all(a.content_type is ContentType.JSON for a in articles)
    lines = path.read_bytes().splitlines()
    for article in articles:
        lineno = int(article.source.rsplit(":", 1)[1])
        assert article.body == lines[lineno - 1]
        json.loads(article.body)
    first, second, updated, chips = articles
    assert first.metadata["title"] == "Copper hits record on supply fears"
    assert first.metadata["published"] == "2026-11-20T08:00:00Z"
    assert first.metadata["source"] == "Example Wire"
    # Same article with other tracking params and fragment: the same id.
    assert updated.id == first.id
    # No URL: identified by its text.
    assert second.url is None
    assert second.id == article_id(
        None,
        "The central bank held its policy rate at 3.25 percent, citing sticky services inflation.",
    )
    assert chips.metadata["field"] == "html"
    assert [(r.source, r.reason) for r in rejected] == [
        (f"{path}:6", ProduceReason.INVALID_JSON),
        (f"{path}:7", ProduceReason.EMPTY),
        (f"{path}:8", ProduceReason.INVALID_JSON),
    ]


def test_a_json_line_that_is_not_utf8_says_so_in_a_users_words(tmp_path: Path) -> None:
    """A Latin-1 byte in a line was reported as Python's UnicodeDecodeError text."""
    path = tmp_path / "mixed.jsonl"
    good = json.dumps({"url": "https://example.com/ok", "text": "fine"}).encode()
    latin1 = '{"url": "https://example.com/cafe", "text": "Caf\xe9"}'.encode("latin-1")
    path.write_bytes(good + b"\n" + latin1 + b"\n" + b'{"text": tru}\n')
    articles, rejected = _split(JsonLines(path, Limits()).articles())
    assert [a.url for a in articles] == ["https://example.com/ok"]
    assert [(r.source, r.reason) for r in rejected] == [
        (f"{path}:2", ProduceReason.INVALID_JSON),
        (f"{path}:3", ProduceReason.INVALID_JSON),
    ]
    not_utf8, not_json = (r.detail for r in rejected)
    assert not_utf8.startswith(f"not UTF-8 text: byte 0xE9 at byte {latin1.index(0xE9) + 1};")
    assert "Latin-1" in not_utf8
    assert not_json == "not valid JSON: Expecting value at column 10"
    assert "Error" not in not_utf8 + not_json


def test_json_lines_oversized_line_is_rejected_alone(tmp_path: Path) -> None:
    path = tmp_path / "big.ndjson"
    good = json.dumps({"url": "https://example.com/ok", "text": "short"})
    big = json.dumps({"url": "https://example.com/big", "text": "x" * 5000})
    path.write_text(f"{good}\n{big}\n{good.replace('ok', 'ok2')}\n", encoding="utf-8")
    articles, rejected = _split(JsonLines(path, Limits(max_input_bytes=1000)).articles())
    assert [a.url for a in articles] == ["https://example.com/ok", "https://example.com/ok2"]
    assert [(r.source, r.reason) for r in rejected] == [(f"{path}:2", ProduceReason.OVERSIZED)]


# --- Feeds ----------------------------------------------------------------------------------


def test_rss_feed_entries(settings: Limits) -> None:
    location = str(FIXTURES / "feed.rss")
    articles, rejected = _split(Feed(location, settings).articles())
    assert [a.url for a in articles] == [
        "https://biz.example.com/airlines/order-40-jets?utm_source=rss",
        "https://biz.example.com/economy/retail-sales",
    ]
    jets, retail = articles
    assert jets.id == article_id("https://biz.example.com/airlines/order-40-jets", "")
    assert jets.content_type is ContentType.HTML
    assert b"Deliveries start in 2028" in jets.body  # full content beats the summary
    assert jets.metadata["title"] == "Airline orders 40 narrow-body jets"
    assert jets.metadata["published"] == "2026-11-23T09:30:00+00:00"
    assert jets.metadata["feed_title"] == "Example Business News"
    assert b"Retail sales rose 0.8 percent" in retail.body
    assert [r.reason for r in rejected] == [ProduceReason.EMPTY]
    # Not the page: an entry's text, which must never replace the page in the index.
    assert jets.metadata[SUMMARY_ONLY] == "true" and retail.metadata[SUMMARY_ONLY] == "true"


def test_atom_feed_entries(settings: Limits) -> None:
    articles, rejected = _split(Feed(str(FIXTURES / "nested" / "feed.atom"), settings).articles())
    assert not rejected
    assert [a.url for a in articles] == [
        "https://science.example.org/climate/glacier-retreat",
        "https://science.example.org/biology/andes-bird",
    ]
    assert articles[0].metadata["published"] == "2026-11-22T17:30:00+00:00"
    assert articles[0].metadata["author"] == "A. Researcher"
    assert b"twice as fast" in articles[0].body
    assert articles[1].metadata["published"] == "2026-11-21T12:00:00+00:00"  # from <updated>


def test_a_page_that_is_not_a_feed_is_rejected(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "page.xml"
    path.write_text("<html><body><p>Not a feed</p></body></html>", encoding="utf-8")
    [item] = Feed(str(path), settings).articles()
    assert isinstance(item, Rejected)
    assert item.reason is ProduceReason.INVALID_FEED


_BIG = "A" * 200_000
_ENTRY = '<rss version="2.0"><channel><item><title>t</title><link>https://e.com/a</link>'


@pytest.mark.parametrize(
    "dtd",
    [
        f'<!DOCTYPE rss [\n<!ENTITY e "{_BIG}">\n]>',  # feedparser re-declares it, then expands
        f'<!DOCTYPE rss [<!ENTITY e "{_BIG}">]>',  # on one line: expat itself expands it
        # An unread external parameter entity before it (expat then skips the declaration,
        # but feedparser's rewrite of the DTD keeps it).
        f'<!DOCTYPE rss [\n<!ENTITY % x SYSTEM "http://127.0.0.1:9/x.ent">\n%x;\n'
        f'<!ENTITY e "{_BIG}">\n]>',
        # Nested references (billion laughs), and an external entity (XXE).
        '<!DOCTYPE rss [<!ENTITY a "&#160;"><!ENTITY e "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        '<!DOCTYPE rss [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
    ],
    ids=["quadratic", "one-line", "after-external-pe", "nested", "external"],
)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.timeout(30)
def test_a_feed_whose_entities_expand_is_refused_before_it_is_expanded(
    dtd: str, encoding: str, settings: Limits, tmp_path: Path
) -> None:
    """0.2 MB of feed, one 200 KB entity referred to 400 times, became 82 MB of entry text,
    300 MB of memory and 3.8 s (feedparser keeps a DTD's text entities, and its fallback
    parser expands them without limit); at the 5 MB input limit, terabytes."""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{dtd}\n{_ENTRY}'
        + "<description>"
        + "&e; " * 400
        + "</description></item></channel></rss>"
    )
    path = tmp_path / "bomb.rss"
    path.write_bytes(text.encode(encoding))
    [item] = Feed(str(path), settings).articles()
    assert isinstance(item, Rejected), item
    assert item.reason is ProduceReason.INVALID_FEED
    assert "declares the XML entity 'e'" in item.detail or "'x'" in item.detail
    assert "\n" not in item.detail and len(item.detail) < 200


def test_a_feed_may_declare_one_character_entities(settings: Limits, tmp_path: Path) -> None:
    """What real feeds declare: HTML's entity names, which XML lacks, as one character."""
    path = tmp_path / "nbsp.rss"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY nbsp "&#160;">\n<!ENTITY m "—">\n]>\n'
        f"{_ENTRY}<description>Rates&nbsp;rose &m; again</description></item></channel></rss>",
        encoding="utf-8",
    )
    [article] = Feed(str(path), settings).articles()
    assert isinstance(article, RawArticle), article
    assert article.body.decode() == "Rates\xa0rose — again"
    # An article about XML may quote a declaration inside its text, escaped.
    assert parse_feed(
        f'{_ENTRY}<description>&lt;!ENTITY e "x"&gt;</description></item></channel></rss>'.encode()
    ).entries


class _FeedHandler(BaseHTTPRequestHandler):
    """Serves the RSS fixture (plain and gzipped), a redirect to it, a 404 and a response
    slower than any timeout."""

    def do_GET(self) -> None:
        if self.path == "/feed.rss":
            body = (FIXTURES / "feed.rss").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/feed.rss.gz":  # gzipped as a file, not by Content-Encoding
            body = gzip.compress((FIXTURES / "feed.rss").read_bytes())
            self.send_response(200)
            self.send_header("Content-Type", "application/gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/old-feed":
            self.send_response(301)
            self.send_header("Location", "/feed.rss")
            self.end_headers()
        elif self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep test output clean


@pytest.fixture
def feed_server() -> Iterator[str]:
    """Base URL of a local HTTP server (127.0.0.1, random port) running in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# The feed servers here are on loopback: a private address, which only a feed's own origin
# may resolve to, and only when NEWSFLOW_CRAWL_ALLOW_PRIVATE_NETWORKS is on.
LOOPBACK = CrawlSettings(allow_private_networks=True)


def test_feed_over_http_matches_the_file(settings: Limits, feed_server: str) -> None:
    from_file, _ = _split(Feed(str(FIXTURES / "feed.rss"), settings).articles())
    for path in ("/feed.rss", "/old-feed", "/feed.rss.gz"):
        source = source_for(feed_server + path, settings, LOOPBACK)
        assert isinstance(source, Feed)
        articles, rejected = _split(source.articles())
        assert [a.id for a in articles] == [a.id for a in from_file]
        assert [a.body for a in articles] == [a.body for a in from_file]
        assert all(a.source == feed_server + path for a in articles)
        assert [r.reason for r in rejected] == [ProduceReason.EMPTY]


def test_a_feed_over_http_is_the_site_of_its_summaries_of_other_hosts(
    settings: Limits, feed_server: str
) -> None:
    """`produce FEED_URL` indexed a feed's entries under the linked host's site: any feed
    could place text under biz.example.com (security review); the text is the feed's."""
    source = source_for(feed_server + "/feed.rss", settings, LOOPBACK)
    assert isinstance(source, Feed)
    articles, _ = _split(source.articles())
    assert articles and {a.metadata.get("site") for a in articles} == {"127.0.0.1"}
    from_file, _ = _split(Feed(str(FIXTURES / "feed.rss"), settings).articles())
    assert all("site" not in a.metadata for a in from_file)  # a local file: the user's own


def test_feed_http_errors_are_rejections(feed_server: str) -> None:
    fast = Limits(http_connect_timeout=1.0, http_read_timeout=0.5)
    once = CrawlSettings(allow_private_networks=True, max_retries=0)
    [missing] = Feed(feed_server + "/missing", fast, once).articles()
    assert isinstance(missing, Rejected)
    assert missing.reason is ProduceReason.FETCH_FAILED
    assert "404" in missing.detail
    [slow] = Feed(feed_server + "/slow", fast, once).articles()
    assert isinstance(slow, Rejected)
    assert slow.reason is ProduceReason.FETCH_FAILED
    # The read timeout ended it (the server answers after 3 s, with a 200).
    assert "timed out" in slow.detail.lower() or "Timeout" in slow.detail


def test_feed_connection_refused_is_a_rejection(settings: Limits) -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler) as server:
        port = server.server_address[1]  # bound then closed: nothing listens there any more
    [item] = Feed(f"http://127.0.0.1:{port}/feed.rss", settings, LOOPBACK).articles()
    assert isinstance(item, Rejected)
    assert item.reason is ProduceReason.FETCH_FAILED
    # Nothing answers, robots.txt included, and a site whose robots.txt cannot be had is not
    # crawled (the crawler's rule, newsflow.web.robots); the detail says why it could not.
    assert "robots.txt unavailable (unreachable:" in item.detail
    assert "All connection attempts failed" in item.detail


def test_a_feed_url_on_a_private_address_is_refused_by_default(
    settings: Limits, feed_server: str
) -> None:
    """`newsflow produce URL` fetches as the crawler does: no SSRF to loopback, metadata..."""
    [item] = Feed(feed_server + "/feed.rss", settings, CrawlSettings()).articles()
    assert isinstance(item, Rejected)
    assert item.reason is ProduceReason.FETCH_FAILED
    assert "private_address" in item.detail and "127.0.0.1" in item.detail


def test_a_feed_redirect_to_another_private_origin_is_refused(
    settings: Limits, feed_server: str
) -> None:
    """Allowing private networks lets the feed's own origin in, not where it redirects."""
    with ThreadingHTTPServer(("127.0.0.1", 0), _FeedHandler) as elsewhere:
        port = elsewhere.server_address[1]
        threading.Thread(target=elsewhere.serve_forever, daemon=True).start()
        try:
            url = f"{feed_server}/redirect?to=http://127.0.0.1:{port}/feed.rss"
            [item] = Feed(url, settings, LOOPBACK).articles()
        finally:
            elsewhere.shutdown()
    assert isinstance(item, Rejected)
    assert "private_address" in item.detail and str(port) in item.detail


# --- WARC -----------------------------------------------------------------------------------


def _write_warc(path: Path) -> None:
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=path.name.endswith(".gz"))

        def response(uri: str, status: str, content_type: str, body: bytes, date: str) -> None:
            headers = StatusAndHeaders(
                status, [("Content-Type", content_type)], protocol="HTTP/1.1"
            )
            record = writer.create_warc_record(
                uri,
                "response",
                payload=io.BytesIO(body),
                http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            )
            writer.write_record(record)

        request = writer.create_warc_record(
            "https://news.example.com/a",
            "request",
            payload=io.BytesIO(b"GET /a HTTP/1.1\r\nHost: news.example.com\r\n\r\n"),
        )
        writer.write_record(request)
        response(
            "https://news.example.com/a?utm_source=x",
            "200 OK",
            "text/html; charset=windows-1252",
            b"<html><body><p>Caf\xe9 prices climb.</p></body></html>",
            "2026-11-20T10:00:00Z",
        )
        response(
            "https://news.example.com/logo.png",
            "200 OK",
            "image/png",
            b"\x89PNG\r\n\x1a\n....",
            "2026-11-20T10:00:01Z",
        )
        response(
            "https://news.example.com/gone",
            "404 Not Found",
            "text/html",
            b"<html><body>Not found</body></html>",
            "2026-11-20T10:00:02Z",
        )
        response(
            "https://news.example.com/b",
            "200 OK",
            "application/xhtml+xml",
            b"<html><head><meta charset='utf-8'></head><body><p>Second story.</p></body></html>",
            "2026-11-20T10:00:03Z",
        )


@pytest.mark.parametrize("name", ["news.warc.gz", "news.warc"])
def test_warc_html_responses_become_articles(settings: Limits, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    _write_warc(path)
    source = source_for(path, settings)
    assert isinstance(source, Warc)
    articles, rejected = _split(source.articles())
    assert not rejected
    assert [a.url for a in articles] == [
        "https://news.example.com/a?utm_source=x",
        "https://news.example.com/b",
    ]
    first, second = articles
    assert first.id == article_id("https://news.example.com/a", "")
    assert first.body == b"<html><body><p>Caf\xe9 prices climb.</p></body></html>"
    assert first.encoding == "cp1252"
    assert first.fetched_at == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert first.source.startswith(f"{path}@")
    assert second.encoding == "utf-8"


def test_a_file_that_is_not_a_warc_is_rejected(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "fake.warc"
    path.write_text("this is not a web archive\n", encoding="utf-8")
    [item] = Warc(path, settings).articles()
    assert isinstance(item, Rejected)
    assert item.reason is ProduceReason.INVALID_WARC


def test_a_response_without_a_target_uri_is_rejected_not_a_crash(
    settings: Limits, tmp_path: Path
) -> None:
    # Found by the property suite: a NUL byte in front of the field hid it, and warcio
    # raised AttributeError on the missing URI.
    record = warc_record(0).replace(b"WARC-Target-URI", b"\x00WARC-Target-URI")
    path = tmp_path / "hidden-uri.warc"
    path.write_bytes(record + warc_record(1))
    first, second = Warc(path, settings).articles()
    assert isinstance(first, Rejected)
    assert first.reason is ProduceReason.INVALID_WARC
    assert "WARC-Target-URI" in first.detail
    assert isinstance(second, RawArticle)
    assert second.url == "https://news.example.com/1"


# --- Directories, dispatch and rejection ----------------------------------------------------


def test_directory_is_recursive_sorted_and_skips_unknown_types(settings: Limits) -> None:
    source = source_for(FIXTURES, settings)
    assert isinstance(source, Directory)
    files = [item[0] for item in source.files() if not isinstance(item, Rejected)]
    assert [f.relative_to(FIXTURES).as_posix() for f in files] == [
        "article.txt",
        "articles.jsonl",
        "feed.rss",
        "page.html",
        "nested/feed.atom",
        "nested/latin1.htm",
    ]
    first = [a.id if isinstance(a, RawArticle) else str(a) for a in source.articles()]
    second = [a.id if isinstance(a, RawArticle) else str(a) for a in source.articles()]
    assert first == second
    articles, rejected = _split(source.articles())
    assert len(articles) == 1 + 4 + 2 + 1 + 2 + 1
    assert len(rejected) == 3 + 1


def test_bad_inputs_are_rejected_without_stopping_the_batch(tmp_path: Path) -> None:
    settings = Limits(max_input_bytes=2000)
    shutil.copy(FIXTURES / "article.txt", tmp_path / "a_good.txt")
    (tmp_path / "b_image.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (tmp_path / "c_nul.html").write_bytes(b"<html>\x00\x00\x00</html>")
    (tmp_path / "d_big.txt").write_text("word " * 1000, encoding="utf-8")
    (tmp_path / "e_bomb.txt.gz").write_bytes(gzip.compress(b"a" * 100_000))
    (tmp_path / "f_broken.html.gz").write_bytes(b"\x1f\x8b\x08\x00 definitely not gzip")
    (tmp_path / "g_pdf.jsonl").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    (tmp_path / "h_empty.txt").write_bytes(b"  \n\n")
    (tmp_path / "i_dangling.txt").symlink_to(tmp_path / "nowhere.txt")
    shutil.copy(FIXTURES / "page.html", tmp_path / "z_good.html")

    articles, rejected = _split(Directory(tmp_path, settings).articles())

    assert [Path(a.source).name for a in articles] == ["a_good.txt", "z_good.html"]
    assert {Path(r.source).name: r.reason for r in rejected} == {
        "b_image.txt": ProduceReason.BINARY,
        "c_nul.html": ProduceReason.BINARY,
        "d_big.txt": ProduceReason.OVERSIZED,
        "e_bomb.txt.gz": ProduceReason.OVERSIZED,
        "f_broken.html.gz": ProduceReason.UNREADABLE,
        "g_pdf.jsonl": ProduceReason.BINARY,
        "h_empty.txt": ProduceReason.EMPTY,
        "i_dangling.txt": ProduceReason.MISSING,
    }
    assert all(r.detail for r in rejected)


def test_a_link_out_of_a_walked_folder_is_not_followed(settings: Limits, tmp_path: Path) -> None:
    """A link dropped into an input folder, named like an article, read the file it pointed
    to with the rights of whoever ran `produce` and published it (security review)."""
    secret = tmp_path / "home" / "secrets.json"
    secret.parent.mkdir()
    secret.write_text('{"elastic": "HomeSecret-51ac"}\n' * 20, encoding="utf-8")
    (tmp_path / "home" / "notes").mkdir()
    (tmp_path / "home" / "notes" / "diary.txt").write_text("Dear diary " * 50, encoding="utf-8")
    drop = tmp_path / "drop"
    (drop / "2026").mkdir(parents=True)
    shutil.copy(FIXTURES / "page.html", drop / "2026" / "story.html")
    (drop / "latest.html").symlink_to(Path("2026") / "story.html")  # inside: read
    (drop / "leak.txt").symlink_to(secret)
    (drop / "relative.jsonl").symlink_to(Path("..") / "home" / "secrets.json")
    (drop / "linked-folder").symlink_to(tmp_path / "home" / "notes")  # not walked

    articles, rejected = _split(Directory(drop, settings).articles())

    assert sorted(Path(a.source).name for a in articles) == ["latest.html", "story.html"]
    assert {Path(r.source).name: r.reason for r in rejected} == {
        "leak.txt": ProduceReason.UNREADABLE,
        "relative.jsonl": ProduceReason.UNREADABLE,
    }
    assert all("symbolic link out of the folder" in r.detail for r in rejected)
    assert all(str(secret) in r.detail for r in rejected)
    assert not any(b"HomeSecret" in a.body or b"diary" in a.body for a in articles)
    # Named on the command line, a link is the user's own choice, and read.
    [named] = source_for(drop / "latest.html", settings).articles()
    assert isinstance(named, RawArticle)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_rejected(settings: Limits, tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("private", encoding="utf-8")
    path.chmod(0)
    try:
        [item] = TextFile(path, settings).articles()
    finally:
        path.chmod(0o600)
    assert isinstance(item, Rejected)
    assert item.reason is ProduceReason.UNREADABLE


def test_source_for_dispatch(settings: Limits, tmp_path: Path) -> None:
    assert isinstance(source_for("https://example.com/feed", settings), Feed)
    assert isinstance(source_for(FIXTURES / "feed.rss", settings), Feed)
    assert isinstance(source_for(str(FIXTURES / "page.html"), settings), HtmlFile)
    assert isinstance(source_for(FIXTURES / "article.txt", settings), TextFile)
    assert isinstance(source_for(FIXTURES / "articles.jsonl", settings), JsonLines)
    assert isinstance(source_for(tmp_path / "x.WARC.GZ", settings), Unusable)  # missing
    missing = list(source_for(tmp_path / "nope.txt", settings).articles())
    assert [r.reason for r in missing if isinstance(r, Rejected)] == [ProduceReason.MISSING]
    unknown = list(source_for(FIXTURES / "nested" / "notes.md", settings).articles())
    assert [r.reason for r in unknown if isinstance(r, Rejected)] == [ProduceReason.UNSUPPORTED]


def test_expand_walks_directories_into_file_sources(settings: Limits, tmp_path: Path) -> None:
    sources = expand([FIXTURES, tmp_path / "missing.txt", "https://example.com/feed"], settings)
    kinds = [type(s).__name__ for s in sources]
    assert kinds == [
        "TextFile",
        "JsonLines",
        "Feed",
        "HtmlFile",
        "Feed",
        "HtmlFile",
        "Unusable",
        "Feed",
    ]
    walked = [i for s in sources[:6] for i in s.articles()]
    assert [getattr(i, "id", None) for i in walked] == [
        getattr(i, "id", None) for i in Directory(FIXTURES, settings).articles()
    ]


def test_a_login_in_a_feed_or_link_url_never_becomes_data(
    settings: Limits, feed_server: str
) -> None:
    """`produce http://bob:secret@host/feed` stored the password in the source of every
    article of the feed, in its metadata, and a link's own login in url, canonical_url and
    the id (security review). The crawler never sends them; they are dropped."""
    secret = "FeedS3cretPW"
    with_login = feed_server.replace("://", f"://bob:{secret}@", 1) + "/feed.rss"
    source = source_for(with_login, settings, LOOPBACK)
    assert isinstance(source, Feed)
    articles, _ = _split(source.articles())
    assert articles and all(a.source == feed_server + "/feed.rss" for a in articles)
    assert secret not in "".join(a.model_dump_json() for a in articles)

    link = "https://alice:p@ss%40word@News.example.com/a?utm_source=x"
    assert canonical_url(link) == "https://news.example.com/a"
    assert without_userinfo(link) == "https://News.example.com/a?utm_source=x"
    assert without_userinfo("/data/alice@host/page.html") == "/data/alice@host/page.html"
    assert without_userinfo(" https://bob:pw@host/a") == " https://host/a"  # as JSON Lines may
    assert (
        without_userinfo("https://example.com/a?mail=a@b.org")
        == "https://example.com/a?mail=a@b.org"
    )
    raw = RawArticle(id="x", source=link, url=link, content_type=ContentType.HTML, body=b"x")
    assert "word" not in raw.source and "word" not in (raw.url or "")
    state = FeedState(feed=link)
    assert state.feed == "https://News.example.com/a?utm_source=x"
    assert Link(url=link, feed=link).model_dump_json().count("alice") == 0
    assert FeedSpec(url=link).url == "https://news.example.com/a?utm_source=x"


def test_a_file_name_that_is_not_utf8_is_published_under_an_escaped_name(
    tmp_path: Path, settings: Limits
) -> None:
    """A Latin-1 file name reaches Python as a lone surrogate, which no JSON message can
    encode: building the first message of such a file stopped the whole `produce` run."""
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")
    (folder / name).write_text("The council met today and agreed on the budget.")
    (folder / "empty.txt").write_text("")
    articles, rejected = _split(Directory(folder, settings).articles())
    (article,) = articles
    assert article.source == f"{folder}/caf\\xe9.txt"
    assert article.metadata["filename"] == "caf\\xe9.txt"
    assert json.loads(article.model_dump_json())["source"] == article.source
    assert [r.reason for r in rejected] == [ProduceReason.EMPTY]


def test_half_a_surrogate_pair_in_a_json_line_or_a_feed_costs_no_more_than_that_input(
    tmp_path: Path, settings: Limits
) -> None:
    """ "\\ud800" is valid JSON and "&#xD800;" looks like XML: each stopped the whole run
    (a title no message could encode, a content hash that could not be taken, feedparser
    raising); now a pair is joined, a half is U+FFFD and a feed that breaks the parser is
    rejected alone."""
    lines = tmp_path / "odd.jsonl"
    lines.write_text(
        '{"text": "Ore \\ud800 prices rose.", "title": "Half \\udc00 a title"}\n'
        '{"text": "A whole \\ud83d\\ude00 pair.", "url": "https://example.com/a"}\n'
    )
    articles, rejected = _split(JsonLines(lines, settings).articles())
    assert rejected == []
    first, second = articles
    assert first.metadata["title"] == "Half \ufffd a title"
    assert first.id == article_id(None, "Ore \ufffd prices rose.")
    assert second.id == article_id("https://example.com/a", "")
    for article in articles:
        article.model_dump_json()  # raised PydanticSerializationError
    feed = tmp_path / "odd.rss"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item>'
        "<title>Entry &#xD800; one</title><link>https://example.com/e</link>"
        "<description>Ore prices rose.</description></item></channel></rss>"
    )
    ((reason, source),) = [(r.reason, r.source) for r in Feed(str(feed), settings).articles()]
    assert (reason, source) == (ProduceReason.INVALID_FEED, str(feed))


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_json_lines_in_utf16_are_refused_as_a_whole(
    codec: str, tmp_path: Path, settings: Limits
) -> None:
    """Split at the byte "\\n", UTF-16 lines were cut inside a character: the first line
    was published as UTF-16 labelled utf-8, every other one was invalid JSON."""
    lines = tmp_path / "wide.jsonl"
    lines.write_bytes('{"text": "Ore prices rose."}\n{"text": "Steel fell."}\n'.encode(codec))
    ((reason, source),) = [(r.reason, r.source) for r in JsonLines(lines, settings).articles()]
    assert (reason, source) == (ProduceReason.UNSUPPORTED, str(lines))


def test_a_folder_without_one_supported_file_is_rejected_not_silently_empty(
    tmp_path: Path, settings: Limits
) -> None:
    """`produce` printed "0 published ... 0 rejected" and exited 0 for such a folder."""
    notes, empty = tmp_path / "notes", tmp_path / "empty"
    notes.mkdir()
    empty.mkdir()
    (notes / "a.md").write_text("# notes")
    (notes / "story.json").write_text('{"text": "Ore prices rose."}')
    (empty / ".hidden.txt").write_text("Ore prices rose.")
    ((reason, source),) = [(r.reason, r.source) for r in Directory(notes, settings).articles()]
    assert (reason, source) == (ProduceReason.UNSUPPORTED, str(notes))
    ((reason, source),) = [(r.reason, r.source) for r in Directory(empty, settings).articles()]
    assert (reason, source) == (ProduceReason.EMPTY, str(empty))
    assert [type(s) for s in expand([str(notes)], settings)] == [Unusable]


def test_a_file_named_gz_that_is_not_compressed_is_read_as_it_is(
    tmp_path: Path, settings: Limits
) -> None:
    """A download tool that inflated an archive keeps its name; it was refused as "Not a
    gzipped file", though every byte was there."""
    archive = tmp_path / "crawl.warc.gz"
    archive.write_bytes(warc_record(1) + warc_record(2))
    text = tmp_path / "story.txt.gz"
    text.write_text("The council met today and agreed on the budget.")
    articles, rejected = _split(Warc(archive, settings).articles())
    assert rejected == [] and [a.url for a in articles] == [
        "https://news.example.com/1",
        "https://news.example.com/2",
    ]
    ((article,),) = [list(TextFile(text, settings).articles())]
    assert isinstance(article, RawArticle) and article.body.startswith(b"The council")
