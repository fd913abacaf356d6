"""The stages a worker runs in its child process (consumers.runner), as the child builds them.

The worker process only pickles a reference to a factory here; the child calls it, and only
then imports the stage's code and loads its models. So the worker process never imports
trafilatura or spaCy, and the child never imports the Kafka or Elasticsearch clients: both
start faster (a restarted worker is back in its group sooner) and stay smaller.
"""

from __future__ import annotations

import logging

from consumers.runner import StageFn
from newsflow.settings import Limits
from schemas.decode import parse_raw


def clean_stage(limits: Limits) -> StageFn:
    """The clean stage: raw-topic message bytes in, (article id, Article JSON) out."""
    # Imported here, in the child, for the start-up reasons above (not to dodge a cycle: the
    # import points down a layer).
    from consumers.process import process_raw
    from consumers.tagging import load_tagger

    tagger = load_tagger()
    tagger.warm_up()  # model loading must not count against the first message's time limit

    def run(value: bytes) -> tuple[bytes, bytes]:
        # A CleanError is a PermanentError of the clean stage: the loop dead-letters it.
        article = process_raw(parse_raw(value), tagger, limits)
        return article.id.encode(), article.model_dump_json().encode()

    return run


def file_stage(fmt: str, tag: bool, limits: Limits) -> StageFn:
    """`newsflow clean`'s stage: a local file's path in (UTF-8, undecodable bytes escaped as
    ``surrogateescape`` does), (article id, Article JSON) out; tags only with ``tag``."""
    from consumers.cleaning import clean, raw_from_file, to_article
    from consumers.tagging import load_tagger

    # trafilatura logs a WARNING for every page it finds no text in; the command's error
    # line already says so, once.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    tagger = load_tagger() if tag else None
    if tagger is not None:
        tagger.warm_up()  # model loading must not count against the first file's time limit

    def run(value: bytes) -> tuple[bytes, bytes]:
        raw = raw_from_file(value.decode("utf-8", "surrogateescape"), fmt, limits=limits)
        extracted = clean(raw, limits)
        tags = tagger.tag(extracted.title, extracted.paragraphs) if tagger else None
        article = to_article(raw, extracted, tags)
        return article.id.encode(), article.model_dump_json().encode()

    return run
