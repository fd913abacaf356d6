"""Language names people type (`search --lang`) to the code articles are stored under."""

from __future__ import annotations

import pytest

from newsflow.languages import (
    _COMMON_NAMES,
    _english_names,
    _fold,
    _own_names,
    language_code,
    stored_codes,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # `--lang norsk` and `--lang farsi` were refused: pycountry has neither name.
        ("norsk", "no"),
        ("Norsk", "no"),
        ("farsi", "fa"),
        ("Farsi", "fa"),
        # The two written standards of Norwegian, with or without the å.
        ("bokmål", "nb"),
        ("Bokmal", "nb"),
        ("bokmaal", "nb"),
        ("Norsk bokmål", "nb"),
        ("nynorsk", "nn"),
        ("norsk  nynorsk", "nn"),
        ("castellano", "es"),
        ("Castilian", "es"),
        ("Ελληνικά", "el"),
        ("ελληνικα", "el"),
        ("slovenčina", "sk"),
        ("slovencina", "sk"),
        ("हिन्दी", "hi"),
        ("mandarin", "zh"),
        ("Cantonese", "yue"),
        ("kiswahili", "sw"),
    ],
)
def test_a_common_name_pycountry_lacks_is_found(typed: str, stored: str) -> None:
    assert language_code(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        # What pycountry resolved before the table stays as it was.
        ("persian", "fa"),
        ("deutsch", "de"),
        ("Norwegian", "no"),
        ("Norwegian Bokmål", "nb"),
        ("español", "es"),
        ("slovenščina", "sl"),
        ("vlaams", "vls"),
        ("nob", "nb"),
        ("nno", "nn"),
        ("fas", "fa"),
        ("per", "fa"),
        ("no", "no"),
    ],
)
def test_codes_and_pycountry_names_keep_their_language(typed: str, stored: str) -> None:
    assert language_code(typed) == stored


def test_what_norsk_bokmal_and_nynorsk_find() -> None:
    """Norsk is both written standards; bokmål is what the detector stores as "no"."""
    assert stored_codes(language_code("norsk") or "") == ["no", "nb", "nn"]
    assert stored_codes(language_code("bokmål") or "") == ["nb", "no"]
    assert stored_codes(language_code("nynorsk") or "") == ["nn"]


def test_no_common_name_is_shadowed_by_a_pycountry_name() -> None:
    """The table is asked last: an entry pycountry already answers would be dead (or, had
    it come first, would have changed what pycountry resolves)."""
    for name in _COMMON_NAMES:
        folded = _fold(name)
        assert folded not in _english_names(), name
        assert folded not in _own_names(), name


def test_every_common_name_gives_a_code_articles_are_stored_under() -> None:
    """The code the tagger's detector (py3langid) gives, or one feeds give that is looked for
    beside it (nb), written as `language_code` writes codes (ISO 639-1 where there is one)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    detected = set(LanguageIdentifier.from_model_file(MODEL_FILE).nb_classes)
    for name, code in _COMMON_NAMES.items():
        assert language_code(code) == code, name
        assert code in detected or set(stored_codes(code)) & detected, name


def test_a_name_still_has_to_be_a_whole_name() -> None:
    for typed in ("nors", "norsk-ish", "farsi persian", "bokmål nynorsk"):
        assert language_code(typed) is None, typed
