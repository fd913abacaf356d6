"""The stages a worker runs in its child process (consumers.runner), as the child builds them.

The worker process only pickles a reference to a factory here; the child calls it, and only
then imports the stage's code and loads its models. So the worker process never imports
trafilatura or spaCy, and the child never imports the Kafka or Elasticsearch clients: both
start faster (a restarted worker is back in its group sooner) and stay smaller.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from consumers.runner import StageFn, more_time
from newsflow.settings import Limits
from schemas.decode import parse_raw

if TYPE_CHECKING:
    from consumers.tagging import Tagger

# What a stage asks for on top of an article's time limit while it loads a NER model: a
# French model took 6 s of CPU to load here (most of it compiling its tokenizer's patterns),
# and a busy machine stretches that.
MODEL_LOAD_SECONDS = 60.0


def _tagger() -> Tagger:
    """The process's tagger, with English loaded now and any other language's model when
    its first article comes, that article given ``MODEL_LOAD_SECONDS`` more for it.

    Loading every model up front cost each stage child 9 s of CPU at start (6 s of it the
    French model), paid by every worker start and restart and by `newsflow run` on English
    pages that never needed it. English is loaded now: the fallback of undecided text.
    """
    from consumers.tagging import load_tagger

    tagger = load_tagger()
    tagger.ner.on_load = lambda lang: more_time(MODEL_LOAD_SECONDS, f"loading the {lang} NER model")
    tagger.warm_up(languages=("en",))
    return tagger


def clean_stage(limits: Limits) -> StageFn:
    """The clean stage: raw-topic message bytes in, (article id, Article JSON) out."""
    # Imported here, in the child, for the start-up reasons above (not to dodge a cycle: the
    # import points down a layer).
    from consumers.process import process_raw

    tagger = _tagger()

    def run(value: bytes) -> tuple[bytes, bytes]:
        # A CleanError is a PermanentError of the clean stage: the loop dead-letters it.
        article = process_raw(parse_raw(value), tagger, limits)
        return article.id.encode(), article.model_dump_json().encode()

    return run


def file_stage(fmt: str, tag: bool, limits: Limits) -> StageFn:
    """`newsflow clean`'s stage: a local file's path in (UTF-8, undecodable bytes escaped as
    ``surrogateescape`` does), (article id, Article JSON) out; tags only with ``tag``."""
    from consumers.cleaning import clean, raw_from_file, to_article

    # trafilatura logs a WARNING for every page it finds no text in; the command's error
    # line already says so, once.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    tagger = _tagger() if tag else None

    def run(value: bytes) -> tuple[bytes, bytes]:
        raw = raw_from_file(value.decode("utf-8", "surrogateescape"), fmt, limits=limits)
        extracted = clean(raw, limits)
        tags = tagger.tag(extracted.title, extracted.paragraphs) if tagger else None
        article = to_article(raw, extracted, tags)
        return article.id.encode(), article.model_dump_json().encode()

    return run
