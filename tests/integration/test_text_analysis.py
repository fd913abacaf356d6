"""Full-text analysis on the stack's real Elasticsearch: the words a reader types find the
forms an article uses.

The local node is Elasticsearch's integ-test distribution, which lacks analysis-common (no
stemmer, stop or folding filter); `newsflow stack up` gives it newsflow's analysis plugin
(newsflow/stack/analysis/), so the index gets the same ``newsflow_text`` analyzer that a full
Elasticsearch builds from its own filters.
"""

from __future__ import annotations

import pytest
from elasticsearch import Elasticsearch
from test_search_confidence import index_articles

from consumers.cleaning.model import Extracted
from consumers.process import build_article
from newsflow.elastic.index import TEXT_ANALYZER, ensure_index, text_analysis
from newsflow.search import SearchFilters, search
from newsflow.settings import Settings
from newsflow.stack import elasticsearch as stack_es
from schemas import Article, ContentType, RawArticle, Tags

pytestmark = pytest.mark.integration


def _article(doc_id: str, title: str, paragraph: str) -> Article:
    raw = RawArticle(
        id=doc_id,
        source=f"test://analysis/{doc_id}",
        url=f"https://example.org/{doc_id}",
        content_type=ContentType.HTML,
        body=b"x",
    )
    extracted = Extracted(paragraphs=[paragraph], extractor="test", title=title)
    return build_article(raw, extracted, Tags(language="en"))


def _tokens(es: Elasticsearch, index: str, text: str) -> list[str]:
    result = es.indices.analyze(index=index, field="body", text=text)
    return [t["token"] for t in result["tokens"]]


def _found(es: Elasticsearch, settings: Settings, query: str) -> list[str]:
    return sorted(h.id for h in search(es, settings, query, SearchFilters()).hits)


def test_the_stack_node_analyzes_text_with_newsflow_text(
    es: Elasticsearch, settings: Settings
) -> None:
    # The project's own `stack up` installed the plugin: no fallback to "standard" here, and
    # the node runs the plugin the checkout's source builds (else `stack up` warns).
    assert text_analysis(es).analyzer == TEXT_ANALYZER
    assert stack_es.loaded_plugin_version(settings) == stack_es.analysis_plugin_version()
    index = ensure_index(es, settings.index)
    mapping = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert {mapping[f]["analyzer"] for f in ("title", "body", "byline", "description")} == {
        TEXT_ANALYZER
    }
    # Possessive dropped, lower-cased, folded, stop words out, Porter stems.
    assert _tokens(es, index, "The Elections in Zürich: Macron's party won, running ahead") == [
        "elect",
        "zurich",
        "macron",
        "parti",
        "won",
        "run",
        "ahead",
    ]
    # French elisions go, with either apostrophe and in any case.
    assert _tokens(es, index, "L'Élysée d’Orsay") == ["elyse", "orsai"]


def test_search_finds_other_forms_and_accents_and_highlights_the_original(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    zurich = _article(
        "zurich",
        "Zürich votes",
        "Voters in Zürich elected a new city council after weeks of campaigning.",
    )
    cafe = _article("cafe", "Café owners protest", "Café owners marched against the new rent law.")
    other = _article("other", "Harbour news", "The harbour board approved a container terminal.")
    paris = _article("paris", "À l'Élysée", "Le président a reçu les ministres à l'Élysée.")
    index_articles(es, settings, [zurich, cafe, other, paris])

    # Before: the standard analyzer matched only the exact form and spelling.
    assert _found(es, settings, "zurich election") == ["zurich"]
    assert _found(es, settings, "ZÜRICH elects") == ["zurich"]
    assert _found(es, settings, "cafe owner") == ["cafe"]
    assert _found(es, settings, '"cafe owners"') == ["cafe"]
    # A prefix is folded and lower-cased too.
    assert _found(es, settings, "Zür*") == ["zurich"]
    # A prefix is not stemmed: Porter made "Ély" "eli", which no stem of "Élysée" starts with.
    assert _found(es, settings, "Ély*") == ["paris"]
    assert _found(es, settings, "l’Élys*") == ["paris"]
    assert _found(es, settings, "Campaig*") == ["zurich"]
    assert _found(es, settings, "campaign") == ["zurich"]
    assert _found(es, settings, "elysee") == ["paris"]
    assert _found(es, settings, "Élysée president") == ["paris"]
    # A sentence copied from an article: its stop words are dropped in every field searched
    # (entity names included), not left as words no field holds.
    assert _found(es, settings, "The harbour board approved a container terminal.") == ["other"]
    assert _found(es, settings, "the president of the Élysée") == ["paris"]
    # Words that only look alike once stop words are gone still need all their words.
    assert _found(es, settings, "zurich harbour") == []

    result = search(es, settings, "zurich", SearchFilters())
    marked = [t for s in result.hits[0].snippets for t, on in result.markers.spans(s) if on]
    # The reader sees the article's own spelling marked, not the folded term.
    assert "Zürich" in marked


def test_italian_and_catalan_elisions_go_and_english_words_keep_their_start(
    es: Elasticsearch, settings: Settings
) -> None:
    index = ensure_index(es, settings.index)
    # Before: only French elisions went, and these stayed "dell'union", "all'onu", ...
    assert _tokens(
        es, index, "dell'Unione l'Italia all'ONU un'altra nell'aula sull'isola d'Italia"
    ) == ["union", "italia", "onu", "altra", "aula", "isola", "italia"]
    assert _tokens(es, index, "Quest'anno quell'uomo dall'estero degl'Italiani") == [
        "anno",
        "uomo",
        "estero",
        "italiani",
    ]
    assert _tokens(es, index, "L'Ajuntament d'Andorra s'ha reunit amb n'Anna") == [
        "ajunta",
        "andorra",
        "ha",
        "reunit",
        "amb",
        "anna",
    ]
    # Either apostrophe, any case.
    assert _tokens(es, index, "DELL’UNIONE Dell’Unione dell'unione") == ["union"] * 3
    # A possessive goes first, so a name spelled like an elided word keeps its name:
    # "Dell's" is "dell", not the elided "dell'" before an "s" (before: French "D's" was "s").
    assert _tokens(es, index, "Dell's profits, the UN’s envoy, All's well, D's and Nell's") == [
        "dell",
        "profit",
        "un",
        "envoi",
        "all",
        "well",
        "d",
        "nell",
    ]
    # Irish O' is part of the name, and o'clock a word: no elision, either apostrophe.
    assert _tokens(es, index, "O'Brien met O’Neill at five o'clock") == [
        "o'brien",
        "met",
        "o'neil",
        "five",
        "o'clock",
    ]
    # Words that mean something before an apostrophe stay whole: "Sant'Anna" is not "Anna".
    assert _tokens(es, index, "Sant'Anna Dell'Utri") == ["sant'anna", "utri"]


def test_the_plugin_normalizes_an_unanalyzed_prefix_as_a_full_node_does(
    es: Elasticsearch, settings: Settings
) -> None:
    # A prefix* outside newsflow's search (query_string without analyze_wildcard, as other
    # clients send it) gets the analyzer's normalizing filters: elision, lowercase, folding.
    index = ensure_index(es, settings.index)
    explained = es.indices.validate_query(
        index=index,
        query={"query_string": {"query": "dell'Uni* L’ÉLY*", "default_field": "body"}},
        explain=True,
    )
    assert explained["explanations"][0]["explanation"] == "body:uni* body:ely*"


def test_search_finds_italian_and_catalan_words_after_an_elision(
    es: Elasticsearch, settings: Settings
) -> None:
    ensure_index(es, settings.index)
    rome = _article(
        "rome",
        "Il presidente dell'Unione all'ONU",
        "Quest'anno l'Italia ha chiesto un'altra riunione sull'immigrazione nell'Assemblea.",
    )
    barcelona = _article(
        "barcelona",
        "L'Ajuntament de Barcelona",
        "L'alcaldessa s'ha reunit amb els veïns d'Horta per parlar de l'habitatge.",
    )
    dublin = _article(
        "dublin",
        "O'Brien wins in Dublin",
        "Dell's new plant opened at nine o'clock, the UN's envoy said.",
    )
    index_articles(es, settings, [rome, barcelona, dublin])

    # Before: none of these found their article (the words were "dell'unione", ...).
    for query in ("Unione", "ONU", "Italia", "Assemblea", "riunione immigrazione", "anno"):
        assert _found(es, settings, query) == ["rome"], query
    # The elided form typed as it is written finds it too, in any case and apostrophe.
    for query in ("dell'Unione", "DELL’UNIONE", "all'Onu", '"l\'Italia ha chiesto"'):
        assert _found(es, settings, query) == ["rome"], query
    for query in ("Ajuntament", "alcaldessa", "Horta", "habitatge", "l'Ajuntament"):
        assert _found(es, settings, query) == ["barcelona"], query
    # English keeps what the elisions could have eaten: Dell, the UN, O'Brien.
    for query in ("Dell", "UN envoy", "O'Brien", "o’brien", "O'BRIEN's", "o'clock"):
        assert _found(es, settings, query) == ["dublin"], query
    # O' is part of the name: "Brien" alone is another word, and "clock" is not "o'clock".
    assert _found(es, settings, "Brien") == []
    assert _found(es, settings, "clock") == []
