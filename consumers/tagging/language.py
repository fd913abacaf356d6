"""Language identification with py3langid, whose model ships inside the package."""

from __future__ import annotations

from importlib.metadata import version

# langid needs some letters to be meaningful: below this it returns a near-uniform guess.
MIN_LETTERS = 12
# Below this normalized probability we report no language rather than a coin toss.
MIN_CONFIDENCE = 0.30
# The detector is linear in the input (a Python loop over bytes); 1000 characters, a
# paragraph or two, decide an article's language.
MAX_CHARS = 1000


class LanguageDetector:
    """ISO 639-1 code and probability for a text, or ``(None, None)`` when undecidable."""

    name = "py3langid"

    def __init__(self) -> None:
        # Imported here: loading the model takes about a second, and importing this module
        # must stay cheap.
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.version = version("py3langid")

    def detect(self, text: str) -> tuple[str | None, float | None]:
        sample = text[:MAX_CHARS]
        if sum(map(str.isalpha, sample)) < MIN_LETTERS:
            return None, None
        lang, prob = self._ident.classify(sample)
        if prob < MIN_CONFIDENCE:
            return None, round(float(prob), 4)
        return str(lang), round(float(prob), 4)
