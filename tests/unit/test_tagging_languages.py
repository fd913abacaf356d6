"""The tagger beyond English: French and German articles, topic lexicons per language,
keywords for languages without spaces, country names in translation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from consumers.tagging import Tagger, entities, keywords, load_tagger, topics
from consumers.tagging.text import fold_german, tokens

# The seed's four article paragraphs, byte for byte (shared/seeds/000_3d09ccc959e3e02c.txt).


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return load_tagger()


FRENCH = [
    "Emmanuel Macron a reçu mardi Sophie Binet, la secrétaire générale de la CGT, à "
    "l’Elysée. La syndicaliste a parlé des salaires, de la grève et de la réforme des "
    "retraites.",
    "Selon Mme Binet, le gouvernement doit entendre les salariés. Macron a promis une "
    "conférence sociale ; la CGT jugera sur les actes, a prévenu Binet. Le ministre du "
    "Travail, Olivier Dussopt, se rendra en Allemagne la semaine prochaine.",
]


def test_french_article_gets_entities_topics_and_countries(tagger: Tagger) -> None:
    tags = tagger.tag("Sophie Binet met en garde Emmanuel Macron", FRENCH)
    assert tags.language == "fr"
    assert tags.unsupported == []
    labels = {e.value: e.label for e in tags.entities}
    # fr_core_news_sm labels persons PER; the tags name them as English models do.
    assert labels.get("Emmanuel Macron") == "PERSON"
    assert labels.get("Sophie Binet") == "PERSON"
    assert labels.get("CGT") == "ORG"
    assert tags.models["entities"].startswith("spacy ") and "fr_core_news_sm" in tags.models
    codes = [t.label for t in tags.topics]
    assert "medtop:09000000" in codes  # labour: CGT, grève, salariés
    assert "DE" in tags.countries  # "Allemagne", pycountry's French name
    by_value = {e.value: e for e in tags.entities}
    # "Macron" and "Binet" alone count as mentions of the full names.
    assert tags.entities[0].value in {"Emmanuel Macron", "Sophie Binet"}
    assert by_value["Sophie Binet"].score is not None


GERMAN = [
    "Die CDU hat die Landtagswahl in Thüringen knapp gewonnen. Der Ministerpräsident "
    "räumte die Niederlage seiner Partei ein, die Wahlbeteiligung lag bei 70 Prozent.",
    "Die Koalitionsverhandlungen sollen nächste Woche beginnen. Auch im Osten "
    "Deutschlands wächst die AfD; in Frankreich und den USA wurde das Ergebnis beachtet.",
]


def test_german_article_gets_topics_keywords_and_countries(tagger: Tagger) -> None:
    tags = tagger.tag("Landtagswahl in Thüringen", GERMAN)
    assert tags.language == "de"
    assert tags.topics[0].label == "medtop:11000000"  # politics, from compounds
    assert "Landtagswahl" in [k.value for k in tags.keywords]
    # "Prozent" and "Woche" are news words, never keywords.
    assert not {"Prozent", "prozent", "Woche", "woche"} & {k.value for k in tags.keywords}
    # "Deutschlands" is a genitive of Deutschland; "USA" a German short form.
    assert {"DE", "FR", "US"} <= set(tags.countries)
    assert tags.models["countries"].endswith("names:en+de")


@pytest.mark.parametrize(
    ("language", "title", "text", "code"),
    [
        (
            "de",
            "Bundesregierung beschließt Reform",
            "Nach den Landtagswahlen will die Bundesregierung eine Reform vorlegen; die "
            "Koalition streitet, der Kanzler schweigt.",
            "medtop:11000000",
        ),
        (
            "de",
            "Fußballspiel abgesagt",
            "Das Bundesligaspiel wurde abgesagt. Der Trainer und die Mannschaft warten auf "
            "eine Entscheidung des Vereins über das Nachholspiel.",
            "medtop:15000000",
        ),
        (
            "fr",
            "Séisme en Turquie",
            "Un séisme a frappé la région ; les secours cherchent des survivants, le bilan "
            "des victimes s'alourdit et les pompiers ont évacué des immeubles.",
            "medtop:03000000",
        ),
        (
            "es",
            "La inflación sube",
            "La inflación subió en marzo y el Banco Central Europeo estudia los tipos de "
            "interés; la bolsa cayó y las empresas temen por sus beneficios.",
            "medtop:04000000",
        ),
    ],
)
def test_topic_lexicons_per_language(language: str, title: str, text: str, code: str) -> None:
    found = topics.classify(tokens(title).text, tokens(text).text, language)
    assert found and found[0][0].code == code


def test_german_compounds_match_their_parts_only() -> None:
    parts = topics._compound_matcher("de")
    codes = {
        w: {topics.TOPICS[ti].code for ti, _ in parts(w)}
        for w in (
            "Landtagswahlen",
            "Fußballspiel",
            "Russland-Wahl",
            "Auswahl",
            "Direktor",
            "Protest",
            "Wissenschaft",
            "Mitglied",
            "Beispiel",
        )
    }
    assert codes["Landtagswahlen"] == {"medtop:11000000"}
    assert codes["Fußballspiel"] == {"medtop:15000000"}
    assert codes["Russland-Wahl"] == {"medtop:11000000"}
    # Words that only end like a lexicon term are not compounds of it.
    for word in ("Auswahl", "Direktor", "Protest", "Wissenschaft", "Mitglied", "Beispiel"):
        assert codes[word] == set(), word


def test_every_lexicon_parses_and_names_known_topics() -> None:
    for language in ("en", "de", "fr", "es"):
        assert topics.supported(language)
        parsed = topics.parse_lexicon(topics.lexicons.read("topics", language) or "")
        assert set(parsed) == set(topics.TOPICS), language
        assert all(terms for terms in parsed.values())
    assert not topics.supported("ja")
    assert topics.classify(["x"], ["y"], "ja") == []


def test_keywords_skip_languages_without_spaces_or_stopwords() -> None:
    assert keywords.supported("de") and keywords.supported("en")
    assert not keywords.supported("ja")
    assert not keywords.supported("xx")  # no spaCy language data: no stopwords
    assert {"sagte", "prozent"} <= keywords.stopwords("de")
    assert {"selon", "déclaré"} <= keywords.stopwords("fr")


def test_common_words_that_spacys_lists_miss_are_stopwords() -> None:
    # Each was a keyword of a dev-corpus article: "is" (sv), "his" (da), "not even" (ru),
    # "next" (ko), "one" (tr).
    for language, word in [
        ("sv", "är"),
        ("da", "sin"),
        ("ru", "ни"),
        ("ko", "다음"),
        ("tr", "bir"),
    ]:
        assert word not in keywords.function_words(language)
        assert word in keywords.stopwords(language)
    # Norwegian is "no" to the language detector and "nb" to spaCy; Swahili has no spaCy list.
    assert {"og", "ikke"} <= keywords.stopwords("no") and keywords.supported("no")
    assert keywords.supported("sw") and "na" in keywords.stopwords("sw")
    # Where our news words were checked against spaCy's list, nothing is added.
    assert "world" not in keywords.stopwords("en")


def test_icelandic_keywords_are_not_its_commonest_words(tagger: Tagger) -> None:
    # spaCy's Icelandic list lacks "og" (and) and "að" (to), and stopwords-iso has no
    # Icelandic: they were the top keywords of the dev corpus's Icelandic article.
    assert not {"og", "að"} & keywords.function_words("is")
    tags = tagger.tag(
        None,
        [
            "Ríkisstjórnin og sveitarfélögin hafa samið um að byggja nýja brú yfir ána við "
            "Selfoss. Brúin á að vera tilbúin árið 2028 og kostnaður við brúna er áætlaður "
            "átta milljarðar króna.",
            "Vegagerðin segir að brúin muni stytta ferðatíma um tíu mínútur og að umferð um "
            "miðbæ Selfoss minnki. Framkvæmdir við brúna hefjast í vor að sögn Vegagerðarinnar.",
            "Íbúar á Selfossi hafa lengi beðið eftir nýrri brú og bæjarstjórinn fagnar "
            "samkomulaginu. Hann segir að brúin sé mikilvæg fyrir allt Suðurland.",
        ],
    )
    assert tags.language == "is"
    words = {word for tag in tags.keywords for word in tag.value.lower().split()}
    assert words and not {"og", "að", "í", "á", "er", "en", "við", "um"} & words
    assert "brúin" in words or "brú" in words or "selfoss" in words


def test_non_english_countries_use_translated_names(tagger: Tagger) -> None:
    tags = tagger.tag(
        None,
        [
            "Die Regierung in Berlin will enger mit Frankreich und Spanien zusammenarbeiten, "
            "sagte der Minister nach dem Treffen."
        ],
    )
    assert tags.language == "de"
    assert {"FR", "ES"} <= set(tags.countries)


def test_ner_multiplies_with_numpy_not_blis(tagger: Tagger) -> None:
    # thinc's BLIS runs its generic kernel on our servers: NER was twice as slow with it.
    tagger.tag(None, ["Prime Minister Anthony Albanese met President Joe Biden in Washington."])
    tagger.tag(None, FRENCH)
    assert set(tagger.ner.loaded()) == {"en", "fr"}
    for nlp in tagger.ner.loaded().values():
        assert nlp.pipe_names == ["ner"]  # only NER is loaded
        for _, component in nlp.pipeline:
            for node in component.model.walk():
                assert getattr(node.ops, "use_blis", False) is False, node.name


@pytest.mark.parametrize(
    ("found", "name"),
    [
        ("l’Elysée", "Elysée"),
        ("d'Israël", "Israël"),
        ("qu’Emmanuel Macron", "Emmanuel Macron"),
        # Capitalized, the apostrophe is part of the name as written.
        ("L’Oréal", "L’Oréal"),
        ("D’Alema", "D’Alema"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_an_elision_kept_by_ner_is_not_part_of_the_name(found: str, name: str) -> None:
    assert entities.normalize(found) == name


HINDI = [
    "नगर निगम ने सोमवार को शहर के पांच इलाकों के लिए नई बस सेवा शुरू की। अधिकारियों ने बताया कि"
    " पहले चरण में बीस बसें चलाई जाएंगी और हर पंद्रह मिनट पर एक बस मिलेगी।",
    "परिवहन विभाग के अनुसार नई बसों में महिलाओं और बुजुर्गों के लिए अलग सीटें होंगी। बस सेवा का"
    " किराया पुरानी दरों पर ही रहेगा।",
    "स्थानीय व्यापारियों ने बस सेवा का स्वागत किया है। उनका कहना है कि बेहतर परिवहन से बाजारों में"
    " ग्राहकों की संख्या बढ़ेगी।",
]


def test_words_keep_their_vowel_signs_and_viramas() -> None:
    # Python's \w leaves combining marks out: "मोहम्मद" was read as "म", "हम", "मद".
    found = tokens("मोहम्मद तबरेज के घर चोरी। café naïve").text
    assert found == ["मोहम्मद", "तबरेज", "के", "घर", "चोरी", "café", "naïve"]
    # The danda ends a sentence like a full stop.
    assert tokens("पुलिस ने कहा। जांच जारी है।").sentence == [0, 0, 0, 1, 1, 1]


def test_hindi_keywords_are_whole_words(tagger: Tagger) -> None:
    tags = tagger.tag("शहर में नई बस सेवा शुरू", HINDI)
    assert tags.language == "hi"
    found = [k.value for k in tags.keywords]
    words = set(" ".join(HINDI).replace("।", " ").split())
    assert found and all(w in words for k in found for w in k.split())
    assert "बस सेवा" in found


def test_german_keywords_are_nouns_and_names_counted_across_inflections() -> None:
    # From fundus-news-dev: "bleibt", "zuvor", "getötet" were keywords alone or ended one
    # ("Palästinenser erschossen"); "Kinder" and "Kindern", "Trump" and "Trumps" were two.
    text = (
        "Die Kinder bleiben zuvor zu Hause, sagte Trump. Trumps Regierung bleibt hart. "
        "Den Kindern fehlt die Schule, weil die Schule geschlossen bleibt. Die Eltern der "
        "Kinder wurden zuvor informiert, dass die Schule geschlossen bleibt. Trumps Plan "
        "für die Kinder bleibt umstritten; zuvor hatte Trump die Schule gelobt."
    )
    found = [k for k, _ in keywords.extract(tokens(text), tokens("Schulen zu"), "de")]
    assert found
    # Every keyword ends in a capitalized word: a noun or a name.
    assert all(k.split()[-1][0].isupper() for k in found), found
    assert not {"bleibt", "zuvor", "geschlossen"} & set(found)
    stems = [" ".join(map(fold_german, k.split())) for k in found]
    assert len(stems) == len(set(stems)), found
    assert "Kinder" in found and "Kindern" not in found
    assert "Trump" in found and "Trumps" not in found


def test_a_common_word_inside_a_name_keeps_its_capital_in_a_keyword() -> None:
    # "Kansas city" and "south Africa" were keywords: "city" and "south" are also written
    # lowercase, and every such word was lowercased even inside a name.
    text = (
        "Storms hit Kansas City on Monday. The city said Kansas City schools will close. "
        "Farther south, the pipeline to South Africa opened. Officials in South Africa "
        "said the pipeline runs south. Rural Kansas voted early. In rural towns the rural "
        "vote is strong. Rural Kansas decides."
    )
    found = [k for k, _ in keywords.extract(tokens(text), tokens(""), "en", 20)]
    assert "Kansas City" in found and "South Africa" in found
    assert not {"Kansas city", "south Africa"} & set(found)
    # A capital at a sentence start is no name's: "Rural" stays a common word.
    assert "rural Kansas" in found and "Rural Kansas" not in found


def test_spacys_stopwords_are_read_from_their_files_as_the_language_classes_have_them() -> None:
    from importlib.util import find_spec

    from spacy.util import get_lang_class

    spec = find_spec("spacy")
    assert spec is not None and spec.submodule_search_locations
    languages = sorted(
        d.name for d in Path(spec.submodule_search_locations[0], "lang").iterdir() if d.is_dir()
    )
    assert len(languages) > 60
    for code in languages:
        if code in {"__pycache__", "xx"}:
            continue
        assert keywords.function_words(code) == frozenset(
            get_lang_class(code).Defaults.stop_words
        ), code
    assert keywords.function_words("no") == keywords.function_words("nb")  # py3langid's code
    assert keywords.function_words("../en") == frozenset()  # not a language code


def test_french_stopwords_do_not_import_the_french_language() -> None:
    # Importing spacy.lang.fr compiles its tokenizer's patterns: 4-7 s of CPU, which the
    # first French article's time limit paid for its stopwords alone.
    code = (
        "import sys; from consumers.tagging import keywords; "
        "assert 'ne' in keywords.stopwords('fr'); "
        "assert 'spacy.lang.fr' not in sys.modules"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
