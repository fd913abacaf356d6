"""Page metadata: HTML character references in JSON-LD and meta tags are decoded."""

from __future__ import annotations

from lxml.html import fromstring

from consumers.cleaning.metadata import extract_metadata, normalize_text

# JSON-LD sits in a <script>, which the HTML parser does not decode, and publishers write
# its strings HTML-escaped; og:description is escaped twice.
PAGE = """<html><head>
<title>Fest im Park | Freie Presse</title>
<meta property="og:description" content="Musik &amp;amp; Theater am Wochenende">
<script type="application/ld+json">
{"@type": "NewsArticle", "headline": "Fest im Park: Musik &amp; Theater",
 "author": {"@type": "Person", "name": "J&ouml;rg M&#252;ller"},
 "publisher": {"@type": "Organization",
               "name": "Freie Presse - Chemnitzer Verlag und Druck GmbH &amp; Co. KG"}}
</script></head><body><h1>Fest im Park: Musik &amp; Theater</h1></body></html>"""


def test_character_references_in_jsonld_and_meta_tags_are_decoded() -> None:
    meta = extract_metadata(fromstring(PAGE))
    assert meta.site == "Freie Presse - Chemnitzer Verlag und Druck GmbH & Co. KG"
    assert meta.title == "Fest im Park: Musik & Theater"
    assert meta.authors == ["Jörg Müller"]
    assert meta.description == "Musik & Theater am Wochenende"
    assert all("&amp;" not in heading for heading in meta.headings)


def test_text_without_references_is_only_normalized() -> None:
    assert normalize_text("  AT&T  and R&D ") == "AT&T and R&D"
    assert normalize_text("Tom & Jerry &copy") == "Tom & Jerry &copy"
