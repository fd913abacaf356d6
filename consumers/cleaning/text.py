"""Extract the article from whole-page plain text (no markup): drop navigation and boilerplate."""

from __future__ import annotations

import re

from consumers.cleaning.model import CleanError, Extracted

EXTRACTOR = "text-rules-0"

# Section headers after which a page rarely has any article text left.
_END_HEADERS = re.compile(
    r"^(leave a (reply|comment)|you may also like|related( articles| posts| stories)?|"
    r"comments?|more stories|read more|recommended)\s*:?$",
    re.IGNORECASE,
)


def extract_text(text: str) -> Extracted:
    """The article paragraphs of a whole-page text: blocks split by newlines, chrome removed."""
    if not text or not text.strip():
        raise CleanError("empty", "no text")
    blocks = [b.strip() for b in text.splitlines() if b.strip()]
    kept: list[str] = []
    for block in blocks:
        if _END_HEADERS.match(block) and kept:
            break
        # Article paragraphs are sentences; short lines are menus, buttons and labels.
        if len(block.split()) >= 12 and block[-1] in ".!?\"'”’)":
            kept.append(block)
    if not kept:
        raise CleanError("no_article_text", "no block looks like article prose")
    return Extracted(paragraphs=kept, extractor=EXTRACTOR)
