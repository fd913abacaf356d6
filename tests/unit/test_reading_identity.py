"""Unit tests of article ids: canonical URLs, stable hashes and the content fallback."""

from __future__ import annotations

import pytest

from newsflow.reading.identity import (
    article_id,
    article_site_domains,
    ascii_host,
    canonical_url,
    is_public_suffix,
    normalize_content,
    site_domains,
    unicode_host,
    url_from_html,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://News.Example.COM/World", "http://news.example.com/World"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a/b/", "https://example.com/a/b"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/", "https://example.com/"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        (
            "https://example.com/a?utm_source=rss&utm_Medium=x&id=7&fbclid=F&gclid=G&mc_cid=1",
            "https://example.com/a?id=7",
        ),
        ("https://example.com/a?utm_source=rss", "https://example.com/a"),
        ("https://example.com/a?q=", "https://example.com/a?q="),
        # A bare query names the page as written (the fetch worker requests this URL).
        ("https://example.com/story.php?12345", "https://example.com/story.php?12345"),
        (
            "https://blog.example/index.php?/archives/12-Title.html",
            "https://blog.example/index.php?/archives/12-Title.html",
        ),
        ("https://example.com/a?utm_source&b=2&ok&a=1", "https://example.com/a?a=1&b=2&ok"),
        ("  https://example.com./a  ", "https://example.com/a"),
        ("https://user:pw@Example.com/a", "https://example.com/a"),
        ("http://[2001:DB8::1]:8080/a", "http://[2001:db8::1]:8080/a"),
        # One spelling per character: hex in upper case, unreserved characters unescaped,
        # non-ASCII and spaces escaped as UTF-8; an escaped "/" or "%" stays escaped.
        ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/caf%C3%A9", "https://example.com/caf%C3%A9"),
        ("https://example.com/%7Euser/a%2Db", "https://example.com/~user/a-b"),
        ("https://example.com/a%2fb/100%25", "https://example.com/a%2Fb/100%25"),
        ("https://example.com/two words", "https://example.com/two%20words"),
        ("https://example.com/a:b@c;d=e,f", "https://example.com/a:b@c;d=e,f"),
        ("https://example.com/story.php?caf%c3%a9", "https://example.com/story.php?caf%C3%A9"),
        ("https://example.com/a?q=caf%c3%a9", "https://example.com/a?q=caf%C3%A9"),
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_keeps_path_case_and_leaves_non_urls_alone() -> None:
    assert canonical_url("https://example.com/Story/ABC") == "https://example.com/Story/ABC"
    assert canonical_url("not a url") == "not a url"
    assert canonical_url("/relative/path/") == "/relative/path/"
    assert canonical_url("http://example.com:notaport/") == "http://example.com:notaport/"


def test_canonical_url_is_idempotent() -> None:
    for url in (
        "HTTPS://Example.com:443/x/?utm_campaign=c&b=1&a=2#f",
        "https://example.com/caf%c3%a9/%7e/na\u00efve?x&q=%e2%82%ac",
    ):
        once = canonical_url(url)
        assert canonical_url(once) == once


def test_article_id_is_stable_short_hex() -> None:
    first = article_id("https://example.com/a", b"")
    assert first == article_id("https://example.com/a", b"different body")
    assert len(first) == 32
    assert int(first, 16) >= 0
    # Pinned (sha256 of "url", a newline and the canonical URL; 32 hex digits): a change here
    # silently re-keys every article already in Kafka and the index.
    assert first == "115212a15f7acce79f2798aa24235f30"


def test_tracking_params_and_fragments_do_not_change_the_id() -> None:
    base = article_id("https://news.example.com/a?id=7", "x")
    assert article_id("https://NEWS.example.com:443/a/?utm_source=tw&id=7#top", "y") == base
    assert article_id("https://news.example.com/a?id=7&fbclid=abc", "z") == base
    assert article_id("https://news.example.com/a?id=8", "x") != base


def test_content_fallback_normalizes_whitespace_and_unicode() -> None:
    decomposed = "Cafe\u0301 opens   downtown.\n\nIt serves coffee.\n"
    composed = "Café opens downtown. It serves coffee."
    assert article_id(None, decomposed) == article_id(None, composed)
    assert article_id("", composed.encode()) == article_id(None, composed)
    assert article_id("   ", "\ufeff" + composed) == article_id(None, composed)
    assert article_id(None, "Café opens uptown.") != article_id(None, composed)


def test_url_and_content_ids_never_collide_on_equal_strings() -> None:
    text = "https://example.com/"
    assert article_id(text, "") != article_id(None, text)


def test_normalize_content_handles_undecodable_bytes() -> None:
    assert normalize_content(b"caf\xe9  au\tlait") == "café au lait"


def test_url_from_html_prefers_canonical_over_og_url() -> None:
    html = b"""<html><head>
    <meta property="og:url" content="https://example.com/og">
    <LINK HREF='https://example.com/canonical?a=1&amp;b=2' REL='canonical'>
    </head><body><link rel="canonical" href="https://example.com/in-body"></body></html>"""
    assert url_from_html(html) == "https://example.com/canonical?a=1&b=2"


def test_url_from_html_uses_og_url_and_ignores_relative_or_body_links() -> None:
    og = '<head><meta content="https://example.com/og" property="og:url"></head>'
    assert url_from_html(og) == "https://example.com/og"
    relative = '<head><link rel="canonical" href="/story/1"></head>'
    assert url_from_html(relative) is None
    in_body = '<head></head><body><link rel="canonical" href="https://example.com/x">'
    assert url_from_html(in_body) is None
    assert url_from_html(b"no html at all") is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("sport.nrk.no", ["sport.nrk.no", "nrk.no"]),
        ("www.nrk.no", ["www.nrk.no", "nrk.no"]),
        ("nrk.no", ["nrk.no"]),
        ("NRK.no.", ["nrk.no"]),
        # The registrable domain by the Public Suffix List: never co.uk, never a bare TLD.
        ("news.www.bbc.co.uk", ["news.www.bbc.co.uk", "www.bbc.co.uk", "bbc.co.uk"]),
        ("co.uk", []),
        ("no", []),
        # A private suffix: one person's pages are not under everyone's.
        ("someone.github.io", ["someone.github.io"]),
        ("blog.someone.github.io", ["blog.someone.github.io", "someone.github.io"]),
        ("github.io", []),
        # An internationalized host in one spelling, Unicode, however it was written.
        ("xn--bcher-kva.example", ["bücher.example"]),
        ("news.BÜCHER.example", ["news.bücher.example", "bücher.example"]),
        ("www.xn--bcher-kva.de", ["www.bücher.de", "bücher.de"]),
        ("xn--e1afmkfd.xn--p1ai", ["пример.рф"]),
        ("xn--p1ai", []),
        # Not valid IDNA (an underscore, a broken A-label): kept as DNS names it.
        ("my_site.example", ["my_site.example"]),
        ("xn--zz.example", ["xn--zz.example"]),
        # Hosts the list does not know: every parent of two labels or more.
        ("a.b.loopback.test", ["a.b.loopback.test", "b.loopback.test", "loopback.test"]),
        ("localhost", ["localhost"]),
        ("127.0.0.1", ["127.0.0.1"]),
        ("::1", ["::1"]),
        ("", []),
        (None, []),
    ],
)
def test_site_domains_are_the_host_and_its_parents_down_to_the_registrable_one(
    host: str | None, expected: list[str]
) -> None:
    assert site_domains(host) == expected


def test_a_summary_is_under_its_feeds_domains_never_its_links() -> None:
    link, feed = "https://www.reuters.com/world/x/", "https://feeds.example.org/rss"
    assert article_site_domains(link, feed, summary_only=False) == [
        "www.reuters.com",
        "reuters.com",
    ]
    assert article_site_domains(link, feed, summary_only=True) == [
        "feeds.example.org",
        "example.org",
    ]
    # A feed read from a file has no host: the summary is found by its site's name only.
    assert article_site_domains(link, "feeds/world.xml", summary_only=True) == []
    assert article_site_domains(None, None, summary_only=False) == []
    assert article_site_domains("http://[::1/x", None, summary_only=False) == []


def test_a_host_has_one_unicode_and_one_ascii_spelling() -> None:
    for host in ("bücher.example", "XN--BCHER-KVA.example", "Bücher.Example."):
        assert unicode_host(host) == "bücher.example"
        assert ascii_host(host) == "xn--bcher-kva.example"
    # UTS 46 without the transitional mapping, as browsers today: ß stays ß.
    assert ascii_host("faß.de") == "xn--fa-hia.de"
    assert unicode_host("nrk.no") == ascii_host("nrk.no") == "nrk.no"


@pytest.mark.parametrize(
    ("host", "suffix"),
    [
        ("co.uk", True),
        ("github.io", True),
        ("no", True),
        ("xn--p1ai", True),
        ("рф", True),
        ("bbc.co.uk", False),
        ("alice.github.io", False),
        ("127.0.0.1", False),
        ("loopback.test", False),
        ("", False),
    ],
)
def test_a_public_suffix_is_one_the_list_names_private_ones_too(host: str, suffix: bool) -> None:
    assert is_public_suffix(host) is suffix
