"""The two definitions of ``newsflow_text`` stay one analyzer.

A full Elasticsearch builds it from analysis-common's filters (newsflow/elastic/index.py); the
local stack's node, which lacks that module, gets it from newsflow's plugin, a Lucene chain in
Java (newsflow/stack/analysis/). The integration tests run the plugin; no full Elasticsearch
runs here, so this checks that both name the same steps in the same order.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsflow.elastic.index import (
    _BUILTIN_TEXT_ANALYSIS,
    CATALAN_ELISIONS,
    ELISIONS,
    FRENCH_ELISIONS,
    ITALIAN_ELISIONS,
    TEXT_ANALYZER,
    TextAnalysis,
    article_mappings,
    index_template,
)
from newsflow.settings import IndexSettings
from newsflow.stack import elasticsearch as stack_es
from newsflow.stack.control import stale_analysis_warning

JAVA = Path(stack_es.__file__).with_name("analysis") / "NewsflowTextAnalyzerFactory.java"

#: Each Lucene class of the chain and the built-in filter Elasticsearch builds it with.
_LUCENE_TO_BUILTIN = {
    "ElisionFilter": {"type": "elision", "articles_case": True, "articles": list(ELISIONS)},
    "EnglishPossessiveFilter": {"type": "stemmer", "language": "possessive_english"},
    "LowerCaseFilter": "lowercase",
    "ASCIIFoldingFilter": "asciifolding",
    "StopFilter": {"type": "stop", "stopwords": "_english_"},
    "PorterStemFilter": {"type": "stemmer", "language": "english"},
}


def _java_chain() -> tuple[str, list[str]]:
    source = JAVA.read_text()
    body = source[
        source.index("createComponents") : source.index("protected TokenStream normalize")
    ]
    tokenizer = re.search(r"Tokenizer source = new (\w+)\(", body)
    assert tokenizer is not None
    return tokenizer.group(1), re.findall(r"result = new (\w+)\(", body)


def _builtin_chain() -> tuple[str, list[object]]:
    analyzer = _BUILTIN_TEXT_ANALYSIS["analyzer"][TEXT_ANALYZER]
    filters = _BUILTIN_TEXT_ANALYSIS["filter"]
    return analyzer["tokenizer"], [filters.get(name, name) for name in analyzer["filter"]]


def test_plugin_and_builtin_definitions_are_the_same_chain() -> None:
    java_tokenizer, java_filters = _java_chain()
    tokenizer, filters = _builtin_chain()
    assert (java_tokenizer, tokenizer) == ("StandardTokenizer", "standard")
    assert [_LUCENE_TO_BUILTIN[name] for name in java_filters] == filters
    assert f'@NamedComponent("{TEXT_ANALYZER}")' in JAVA.read_text()
    # Possessives go before elisions: "the UN's" is "un", not the elided "un'" before an "s".
    assert java_filters[:2] == ["EnglishPossessiveFilter", "ElisionFilter"]


def test_the_plugin_reads_the_template_s_list_of_elisions() -> None:
    # The plugin has no list of its own: it reads the one the build puts beside its class,
    # matched in any case as the template asks.
    source = JAVA.read_text()
    resource = re.search(r'ELISIONS_RESOURCE = "([\w.]+)"', source)
    package = re.search(r"^package ([\w.]+);", source, re.MULTILINE)
    assert resource is not None and package is not None
    entry = f"{package.group(1).replace('.', '/')}/{resource.group(1)}"
    assert entry == stack_es._ELISIONS_ENTRY
    assert "new CharArraySet(readElisions(), true)" in source
    assert stack_es.elisions_resource().splitlines() == list(ELISIONS)
    # A changed list is a new plugin version, which `stack up` builds and installs.
    assert stack_es.analysis_plugin_version((*ELISIONS, "x")) != stack_es.analysis_plugin_version()


def test_the_elisions_are_the_three_languages_lists_once_each() -> None:
    assert set(ELISIONS) == {*FRENCH_ELISIONS, *ITALIAN_ELISIONS, *CATALAN_ELISIONS}
    assert len(set(ELISIONS)) == len(ELISIONS)
    assert all(re.fullmatch(r"[a-z]+", word) for word in ELISIONS)
    assert {"dell", "all", "nell", "sull", "un", "quest", "quell"} <= set(ITALIAN_ELISIONS)
    # Lucene's CatalanAnalyzer list: the French one already has them all.
    assert set(CATALAN_ELISIONS) == {"d", "l", "m", "n", "s", "t"} <= set(FRENCH_ELISIONS)


@pytest.mark.parametrize(
    "word",
    [
        "o'clock",
        "O'Brien",
        "O'Neill",
        "don't",
        "can't",
        "won't",
        "isn't",
        "I'm",
        "it's",
        "let's",
        "y'all",
        "ma'am",
        "ne'er",
        "rock'n'roll",
        "Sant'Anna",
        "bell'Italia",
        "tutt'altro",
        "Grand'Place",
    ],
)
def test_no_elision_eats_the_start_of_a_word_that_is_not_elided(word: str) -> None:
    # The filter drops what comes before a word's first apostrophe when it is on the list
    # (possessives are gone by then: "Dell's", "the UN's" keep their name). English
    # contractions and Irish names start with a word of their own; so do the Italian words
    # left out on purpose.
    assert word.split("'", 1)[0].lower() not in ELISIONS


def test_the_plugin_normalizes_prefixes_as_a_full_node_does() -> None:
    # Elasticsearch normalizes a query term it does not analyze (a prefix* without
    # analyze_wildcard) with the filters of a custom analyzer whose factories normalize:
    # elision, lowercase and asciifolding, in the chain's order; not the possessive, stop or
    # stem filters.
    normalizing = {"elision", "lowercase", "asciifolding"}
    _, filters = _builtin_chain()
    expected = [f for f in filters if (f if isinstance(f, str) else f["type"]) in normalizing]
    source = JAVA.read_text()
    normalize = source[source.index("protected TokenStream normalize") :]
    # Nested constructors: the outermost filter runs last.
    nested = re.findall(r"new (\w+)\(", normalize)
    assert nested == ["ASCIIFoldingFilter", "LowerCaseFilter", "ElisionFilter"]
    assert [_LUCENE_TO_BUILTIN[name] for name in reversed(nested)] == expected


def test_the_template_defines_the_analyzer_only_where_the_node_lacks_it() -> None:
    names = IndexSettings()
    builtin = index_template(names, TextAnalysis(TEXT_ANALYZER, _BUILTIN_TEXT_ANALYSIS))
    assert builtin["template"]["settings"]["analysis"] == _BUILTIN_TEXT_ANALYSIS
    plugin = index_template(names, TextAnalysis(TEXT_ANALYZER))
    assert "analysis" not in plugin["template"]["settings"]
    assert plugin["template"]["mappings"] == article_mappings(TEXT_ANALYZER)
    assert article_mappings(TEXT_ANALYZER)["properties"]["body"]["analyzer"] == TEXT_ANALYZER
    bare = index_template(names)
    assert "analysis" not in bare["template"]["settings"]
    assert bare["template"]["mappings"]["properties"]["body"]["analyzer"] == "standard"


def test_the_plugin_descriptor_names_its_source_version(tmp_path: Path) -> None:
    home = tmp_path / "es"
    plugin = home / "plugins" / "newsflow-analysis"
    assert stack_es.installed_plugin_version(home) is None
    plugin.mkdir(parents=True)
    text = stack_es._plugin_descriptor("9.5.4", "abc123", 21)
    (plugin / "stable-plugin-descriptor.properties").write_text(text)
    assert stack_es.installed_plugin_version(home) == "abc123"
    assert "elasticsearch.version=9.5.4" in text.splitlines()
    assert "java.version=21" in text.splitlines()


def test_stack_up_says_which_analyzer_a_node_with_a_stale_plugin_serves() -> None:
    restart = "`newsflow stack down es && newsflow stack up`"
    assert stale_analysis_warning("abc", "abc") is None
    none = stale_analysis_warning(None, "abc")
    assert none is not None and "standard analyzer" in none and restart in none
    # A changed plugin (a longer list of elisions): the node still has newsflow_text, the
    # old one, not the standard analyzer the warning used to name.
    old = stale_analysis_warning("0123", "abc")
    assert old is not None and "standard" not in old and restart in old
    assert "older build" in old and "0123" in old and "abc" in old
