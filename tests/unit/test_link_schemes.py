"""No article is stored with a javascript: (or any non-http(s)) link, whatever its input.

Kibana shows an article's url, canonical_url and image as fields people click. A page's
<link rel=canonical>, a feed item's link, a JSON object's url, a WARC record's target and a
JSON line's url are written by others; each was stored as given (security review).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from consumers.cleaning import clean
from consumers.process import build_article
from newsflow.reading.document import raw_document
from newsflow.settings import Limits
from producers.sources import Feed, JsonLines, Rejected, Warc
from schemas.article import Article, ContentType, RawArticle, Tags, safe_link
from schemas.reasons import ProduceReason

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "http://[::1",  # not a URL at all
]
TEXT = " ".join(f"The harbour tunnel opened on day {i} to a crowd of commuters." for i in range(8))


@pytest.mark.parametrize("link", HOSTILE)
def test_a_link_with_another_scheme_is_not_a_link_to_store(link: str) -> None:
    assert safe_link(link) is None
    with pytest.raises(ValidationError, match="http"):
        RawArticle(id="x", source="s", url=link, content_type=ContentType.TEXT, body=b"x")
    with pytest.raises(ValidationError, match="http"):
        Article(id="x", canonical_url=link, content_hash="h", simhash="0" * 16)
    with pytest.raises(ValidationError, match="http"):
        Article(id="x", image=link, content_hash="h", simhash="0" * 16)


@pytest.mark.parametrize(
    ("link", "kept"),
    [
        ("https://news.example/a?b=1", "https://news.example/a?b=1"),
        ("HTTP://news.example/a", "HTTP://news.example/a"),
        ("https://bob:pw@news.example/a", "https://news.example/a"),  # without its login
        ("/2026/02/harbour-tunnel", "/2026/02/harbour-tunnel"),  # relative to its page
        ("img/tunnel.jpg", "img/tunnel.jpg"),
    ],
)
def test_http_links_and_relative_references_are_kept(link: str, kept: str) -> None:
    assert safe_link(link) == kept
    raw = RawArticle(id="x", source="s", url=link, content_type=ContentType.TEXT, body=b"x")
    assert raw.url == kept


def _page(canonical: str, image: str) -> str:
    return (
        f'<html><head><title>Harbour tunnel</title><link rel="canonical" href="{canonical}">'
        f'<meta property="og:image" content="{image}"></head>'
        f"<body><article><h1>Harbour tunnel opens</h1><p>{TEXT}</p></article></body></html>"
    )


@pytest.mark.parametrize(
    ("canonical", "image"),
    [
        ("javascript:alert(1)", "javascript:alert(2)"),
        ("java&#9;script:alert(1)", "JAVASCRIPT:alert(2)"),
        ("data:,x", "data:image/svg+xml,<svg onload=alert(1)>"),
    ],
)
def test_a_page_naming_a_javascript_canonical_or_image_keeps_its_own_url(
    canonical: str, image: str
) -> None:
    page = _page(canonical, image)
    raw = RawArticle(
        id="p",
        source="crawl",
        url="https://news.example/tunnel",
        content_type=ContentType.HTML,
        body=page.encode(),
    )
    extracted = clean(raw)
    assert extracted.canonical_url == "https://news.example/tunnel"
    assert extracted.image is None
    article = build_article(raw, extracted, Tags())
    assert article.url == article.canonical_url == "https://news.example/tunnel"
    assert article.image is None
    # A page read without its URL (`newsflow clean page.html`) has no canonical URL then.
    offline = raw.model_copy(update={"url": None})
    article = build_article(offline, clean(offline), Tags())
    assert article.url is None and article.canonical_url is None and article.image is None


def test_a_page_s_http_canonical_and_image_are_still_taken() -> None:
    raw = RawArticle(
        id="p",
        source="crawl",
        url="https://news.example/tunnel?utm=x",
        content_type=ContentType.HTML,
        body=_page("/tunnel", "/img/t.jpg").encode(),
    )
    article = build_article(raw, clean(raw), Tags())
    assert article.canonical_url == "https://news.example/tunnel"
    assert article.image == "https://news.example/img/t.jpg"


def test_a_json_article_s_javascript_url_and_image_are_dropped() -> None:
    body = json.dumps({"url": "javascript:alert(1)", "image": "javascript:alert(2)", "text": TEXT})
    raw = RawArticle(id="j", source="s", content_type=ContentType.JSON, body=body.encode())
    article = build_article(raw, clean(raw), Tags())
    assert article.url is None and article.canonical_url is None and article.image is None
    given = raw.model_copy(update={"url": "https://news.example/j"})
    article = build_article(given, clean(given), Tags())
    assert article.url == article.canonical_url == "https://news.example/j"


def test_a_json_line_with_a_javascript_url_is_refused_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = [
        {"url": "javascript:alert(1)", "text": TEXT},
        {"link": "data:text/html,<script>alert(1)</script>", "text": TEXT},
        {"url": "https://news.example/ok", "text": TEXT},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    items = list(JsonLines(path, Limits()).articles())
    first, second, third = items
    assert isinstance(first, Rejected) and first.reason is ProduceReason.UNSUPPORTED
    assert "'javascript:alert(1)' is not an http(s) URL" in first.detail
    assert isinstance(second, Rejected) and second.reason is ProduceReason.UNSUPPORTED
    assert isinstance(third, RawArticle) and third.url == "https://news.example/ok"


def test_a_feed_item_linking_to_javascript_is_published_without_the_link(tmp_path: Path) -> None:
    feed = tmp_path / "feed.rss"
    feed.write_text(
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<item><title>Bad</title><link>javascript:alert(1)</link>"
        f"<description>{TEXT}</description></item>"
        "<item><title>Good</title><link>https://news.example/good</link>"
        f"<description>{TEXT} Good.</description></item>"
        "</channel></rss>"
    )
    bad, good = list(Feed(str(feed), Limits()).articles())
    assert isinstance(bad, RawArticle) and bad.url is None
    assert isinstance(good, RawArticle) and good.url == "https://news.example/good"


def test_a_document_given_a_javascript_url_takes_the_page_s_own_or_none() -> None:
    """raw_document builds the RawArticle of a WARC record, a fetched page and an HTML file."""
    own = raw_document(
        _page("https://news.example/own", "").encode(),
        source="s",
        content_type=ContentType.HTML,
        url="javascript:alert(1)",
    )
    assert own.url == "https://news.example/own"
    none = raw_document(
        _page("javascript:alert(3)", "").encode(),
        source="s",
        content_type=ContentType.HTML,
        url="javascript:alert(2)",
    )
    assert none.url is None


def test_a_warc_record_whose_target_is_not_http_is_not_published(tmp_path: Path) -> None:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    for target in ("javascript:alert(1)", "https://news.example/ok"):
        page = _page("https://news.example/own", "")
        record = writer.create_warc_record(
            target, "response", payload=io.BytesIO(page.encode()), http_headers=headers
        )
        writer.write_record(record)
    path = tmp_path / "a.warc"
    path.write_bytes(out.getvalue())
    # warcio reads no HTTP response in a record whose target is not http(s): it is skipped.
    (article,) = list(Warc(path, Limits()).articles())
    assert isinstance(article, RawArticle) and article.url == "https://news.example/ok"
