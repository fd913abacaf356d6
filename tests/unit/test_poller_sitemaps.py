"""The poller against feeds and sitemaps served on loopback: index children that fail,
nested indexes, their order and rotation, relative locs, documents gzipped as files."""

from __future__ import annotations

import asyncio
import gzip
from datetime import UTC, datetime

from crawl_site import Item, Response, Site, conditional, html_page, news_sitemap, rss

from newsflow.settings import CrawlSettings, Limits
from newsflow.web.addresses import origin_of
from newsflow.web.client import PAGE_ACCEPT, Want, WebClient
from producers.feeds import FeedSpec
from producers.poller import MAX_CHILD_SITEMAPS, FeedPoll, poll_one
from producers.schedule import after_poll
from producers.sitemaps import ChildSitemap, reading_order
from schemas.crawl import FeedState

XML = {"Content-Type": "application/xml"}
CRAWL = CrawlSettings(allow_private_networks=True, per_host_delay_seconds=0)
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def index(*children: tuple[str, str]) -> bytes:
    """A sitemap index of (loc, lastmod) children; an empty lastmod is left out."""
    items = "".join(
        f"<sitemap><loc>{loc}</loc>"
        + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
        + "</sitemap>"
        for loc, lastmod in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{items}</sitemapindex>'
    ).encode()


def serve(site: Site, path: str, body: bytes) -> None:
    site.routes[path] = lambda handler: Response(200, body, XML)


def urlset(site: Site, *paths: str) -> bytes:
    return news_sitemap([Item(site.url(p), p, "") for p in paths])


def poll(site: Site, path: str, state: FeedState | None = None, max_links: int = 1_000) -> FeedPoll:
    async def run() -> FeedPoll:
        async with WebClient(CRAWL, Limits()) as client:
            spec = FeedSpec(url=site.url(path))
            return await poll_one(client, spec, state, 1_000_000, max_links)

    return asyncio.run(run())


def test_a_dead_or_broken_child_costs_only_itself(site: Site) -> None:
    serve(site, "/live.xml", urlset(site, "/news/a"))
    serve(site, "/broken.xml", b"<html><body>Sitemap plugin error</body></html>")
    serve(
        site,
        "/index.xml",
        index(
            (site.url("/gone.xml"), ""), (site.url("/broken.xml"), ""), (site.url("/live.xml"), "")
        ),
    )
    result = poll(site, "/index.xml")
    assert result.polled.error is None
    assert [f.url for f in result.fresh] == [site.url("/news/a")]
    assert {"/gone.xml", "/broken.xml", "/live.xml"} <= set(site.paths())
    # Every child failing is the index's failure, with the first child's reason.
    serve(site, "/all-dead.xml", index((site.url("/gone.xml"), "")))
    failed = poll(site, "/all-dead.xml")
    assert failed.polled.error is not None and "not_found" in failed.polled.error


def test_a_failing_childs_old_entries_are_not_new_again(site: Site) -> None:
    serve(site, "/one.xml", urlset(site, "/news/one"))
    serve(site, "/two.xml", urlset(site, "/news/two"))
    serve(site, "/index.xml", index((site.url("/one.xml"), ""), (site.url("/two.xml"), "")))
    first = poll(site, "/index.xml")
    assert {f.url for f in first.fresh} == {site.url("/news/one"), site.url("/news/two")}
    state = after_poll(None, first.spec, first.polled, NOW, CRAWL)
    serve(site, "/two.xml", b"<html><body>Database error</body></html>")
    during = poll(site, "/index.xml", state)
    assert during.polled.error is None and during.fresh == []
    state = after_poll(state, during.spec, during.polled, NOW, CRAWL)
    serve(site, "/two.xml", urlset(site, "/news/two", "/news/three"))
    after = poll(site, "/index.xml", state)
    assert [f.url for f in after.fresh] == [site.url("/news/three")]


def test_nested_indexes_are_followed_once_each(site: Site) -> None:
    serve(site, "/2026/news.xml", urlset(site, "/news/deep"))
    # The yearly index lists the top index again (and itself): read once each, no loop.
    serve(
        site,
        "/2026/index.xml",
        index(
            (site.url("/2026/news.xml"), ""),
            (site.url("/index.xml"), ""),
            (site.url("/2026/index.xml"), ""),
        ),
    )
    serve(site, "/index.xml", index((site.url("/2026/index.xml"), "")))
    result = poll(site, "/index.xml")
    assert result.polled.error is None
    assert [f.url for f in result.fresh] == [site.url("/news/deep")]
    assert sorted(site.paths()) == sorted(
        ["/robots.txt", "/index.xml", "/2026/index.xml", "/2026/news.xml"]
    )


def test_the_newest_children_are_read_when_the_index_lists_them_oldest_first(
    site: Site,
) -> None:
    count = MAX_CHILD_SITEMAPS + 5
    children = []
    for n in range(1, count + 1):
        path = f"/post-sitemap{n}.xml"
        serve(site, path, urlset(site, f"/news/{n}"))
        children.append((site.url(path), f"2026-{1 + n // 28:02d}-{1 + n % 28:02d}T08:00:00+00:00"))
    serve(site, "/index.xml", index(*children))
    result = poll(site, "/index.xml")
    got = {f.url for f in result.fresh}
    assert site.url(f"/news/{count}") in got, "today's articles are in the last child"
    assert site.url("/news/1") not in got
    assert len(got) == MAX_CHILD_SITEMAPS


def test_gzipped_feeds_and_sitemaps_with_blank_lines_first_are_read(site: Site) -> None:
    item = Item(site.url("/news/gz"), "Gzipped", "A feed gzipped as a file.")
    site.routes["/feed.xml.gz"] = lambda handler: Response(
        200, gzip.compress(rss("Gz", [item])), {"Content-Type": "application/gzip"}
    )
    result = poll(site, "/feed.xml.gz")
    assert result.polled.error is None
    assert (result.title, [f.url for f in result.fresh]) == ("Gz", [site.url("/news/gz")])
    # A stray newline before the XML declaration, gzipped or not.
    plain = b"\r\n\n" + urlset(site, "/news/blank")
    serve(site, "/blank.xml", plain)
    serve(site, "/blank.xml.gz", gzip.compress(b"\xef\xbb\xbf\n" + urlset(site, "/news/blank")))
    for path in ("/blank.xml", "/blank.xml.gz"):
        result = poll(site, path)
        assert result.polled.error is None, result.polled.error
        assert [f.url for f in result.fresh] == [site.url("/news/blank")]


def test_a_link_with_a_bare_query_is_fetched_as_the_feed_wrote_it(site: Site) -> None:
    """The fetch worker requests a link's canonical URL: ``story.php?12345`` went out as
    ``story.php?12345=`` and Serendipity's ``index.php?/archives/7-x.html`` as
    ``index.php?%2Farchives%2F7-x.html=``, pages such servers do not have."""
    written = ["/story.php?12345", "/index.php?/archives/7-harbour.html"]
    items = [Item(site.url(p), p, "text") for p in written]
    site.routes["/feed.rss"] = lambda handler: Response(
        200, rss("Bare", items), {"Content-Type": "application/rss+xml"}
    )
    page = html_page(b"<html><body><p>the story</p></body></html>")
    site.routes["/story.php"] = site.routes["/index.php"] = page
    result = poll(site, "/feed.rss")
    want = Want(max_bytes=1_000_000, html_only=True, accept=PAGE_ACCEPT)

    async def fetch_all() -> None:
        async with WebClient(CRAWL, Limits()) as client:
            for fresh in result.fresh:  # as consumers/fetching.py fetches a link
                await client.get(fresh.url, want, origin_of(site.url("/feed.rss")))

    asyncio.run(fetch_all())
    assert [p for p in site.paths() if p.startswith(("/story", "/index"))] == written


def test_html_titles_of_a_feed_become_plain_text(site: Site) -> None:
    """An RSS title in CDATA and an Atom type="html" title kept their markup and character
    references, and a summary was indexed as "Don&#8217;t miss &amp; <b>see</b>"."""
    rss_feed = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>Harbour &amp;amp; Sea</title>"
        "<item><title><![CDATA[Don&#8217;t miss &amp; <b>see</b>]]></title>"
        f"<link>{site.url('/news/cdata')}</link><description>text</description></item>"
        "<item><title>AT&amp;T &lt;3 plain</title>"
        f"<link>{site.url('/news/plain')}</link><description>text</description></item>"
        "</channel></rss>"
    )
    atom_feed = (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        '<title type="html">Docks &amp;amp; Co</title><entry><id>urn:x</id>'
        '<title type="html">Caf&amp;eacute; &lt;i&gt;open&lt;/i&gt;</title>'
        f'<link rel="alternate" href="{site.url("/news/atom")}"/><summary>text</summary>'
        "</entry></feed>"
    )
    site.routes["/feed.rss"] = lambda h: Response(
        200, rss_feed.encode(), {"Content-Type": "application/rss+xml"}
    )
    site.routes["/feed.atom"] = lambda h: Response(
        200, atom_feed.encode(), {"Content-Type": "application/atom+xml"}
    )
    rss_poll, atom_poll = poll(site, "/feed.rss"), poll(site, "/feed.atom")
    assert [f.entry.title for f in rss_poll.fresh] == ["Don\u2019t miss & see", "AT&T <3 plain"]
    assert rss_poll.title == "Harbour & Sea"
    assert [f.entry.title for f in atom_poll.fresh] == ["Caf\u00e9 open"]
    assert atom_poll.title == "Docks & Co"


def test_children_past_the_cap_are_read_by_the_next_polls(site: Site) -> None:
    """An index of more undated children than a poll reads had the same 20 read on every
    poll and the others never, unreported; now each poll goes on where the last one stopped,
    says how many it left, and does so even while the index itself is unchanged (304)."""
    count = MAX_CHILD_SITEMAPS + 5
    children = []
    for n in range(1, count + 1):
        path = f"/sitemap{n}.xml"
        serve(site, path, urlset(site, f"/news/{n}"))
        children.append((site.url(path), ""))
    listing = index(*children)
    site.routes["/index.xml"] = conditional(lambda: listing, lambda: 1, "application/xml")

    first = poll(site, "/index.xml")
    assert {f.url for f in first.fresh} == {site.url(f"/news/{n}") for n in range(1, 21)}
    assert first.left == 5
    state = after_poll(None, first.spec, first.polled, NOW, CRAWL)
    before = len(site.requests())
    second = poll(site, "/index.xml", state)
    # The five never read first, then the five read longest ago (nothing new in those).
    assert [f.url for f in second.fresh] == [site.url(f"/news/{n}") for n in range(21, 26)]
    read = [r.path for r in site.requests()[before:] if r.path.startswith("/sitemap")]
    assert read[:5] == [f"/sitemap{n}.xml" for n in range(21, 26)]
    assert read[5:10] == [f"/sitemap{n}.xml" for n in range(1, 6)]
    assert second.left == 5
    index_request = next(r for r in site.requests()[before:] if r.path == "/index.xml")
    assert "if-none-match" not in index_request.headers
    state = after_poll(state, second.spec, second.polled, NOW, CRAWL)
    # Entries of the children this poll did not read are remembered, not new again.
    third = poll(site, "/index.xml", state)
    assert third.polled.error is None and third.fresh == []


def test_reading_order_puts_changed_then_unread_then_least_recently_read_first() -> None:
    last_poll = datetime(2026, 12, 1, 12, tzinfo=UTC)
    old = "2026-11-01T00:00:00+00:00"
    children = [
        ChildSitemap("a", old),
        ChildSitemap("b", "2026-11-20"),
        ChildSitemap("c", ""),
        ChildSitemap("d", "2026-12-02T08:00:00+00:00"),  # changed since the last poll
        ChildSitemap("e", old),
        ChildSitemap("f", "2026-11-30"),
    ]
    order = reading_order(children, ["x", "e", "a", "d"], last_poll)
    assert [c.url for c in order] == ["d", "f", "b", "c", "e", "a"]
    # First poll: newest first, undated last in the index's order.
    assert [c.url for c in reading_order(children, [], None)] == ["d", "f", "b", "a", "e", "c"]
    # An index that dates every child "now" still rotates them.
    now = "2026-12-02T09:00:00+00:00"
    stamped = [ChildSitemap(u, now) for u in ("p", "q", "r")]
    assert [c.url for c in reading_order(stamped, ["q", "p"], last_poll)] == ["r", "q", "p"]


def test_a_relative_loc_is_read_against_its_sitemaps_url(site: Site) -> None:
    """``<loc>/news/x.html</loc>`` (a CMS plugin's) was dropped without a word."""
    serve(
        site,
        "/sitemaps/news.xml",
        news_sitemap([Item("/news/relative", "Relative", ""), Item("rel/child", "Child", "")]),
    )
    serve(site, "/index.xml", index(("/sitemaps/news.xml", "")))
    result = poll(site, "/index.xml")
    assert result.polled.error is None
    assert [f.url for f in result.fresh] == [
        site.url("/news/relative"),
        site.url("/sitemaps/rel/child"),
    ]


def test_a_sitemap_larger_than_a_poll_s_cap_is_published_over_several_polls(site: Site) -> None:
    """Newest first, none lost, none twice; the sitemap's validators are not kept until
    every entry was taken, as a 304 would hide the ones left."""
    urls = "".join(
        f"<url><loc>{site.url(f'/news/{n}')}</loc><lastmod>2026-11-{n:02d}</lastmod></url>"
        for n in range(1, 11)
    )
    body = (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>').encode()
    site.routes["/sitemap.xml"] = conditional(lambda: body, lambda: 1, "application/xml")
    spec = FeedSpec(url=site.url("/sitemap.xml"))
    state, taken, waiting = None, [], []
    for _ in range(4):
        result = poll(site, "/sitemap.xml", state, max_links=4)
        assert result.polled.error is None
        taken.append([f.url.rsplit("/", 1)[1] for f in result.fresh])
        waiting.append((result.polled.status, result.deferred))
        state = after_poll(state, spec, result.polled, NOW, CRAWL)
    assert taken == [["7", "8", "9", "10"], ["3", "4", "5", "6"], ["1", "2"], []]
    assert waiting == [(200, 6), (200, 2), (200, 0), (304, 0)]
