"""Trimming of an extracted article's lines: lead-ins, credits, edge boilerplate, closing notes.

Shared by the HTML extractor (consumers/cleaning/html.py) and the whole-page-text extractor
(consumers/cleaning/text.py): whatever found the article's lines, the same kinds of lines are
not the article. What is dropped:

- the headline repeated as one of the first lines;
- anywhere: lines that introduce other content ("Related:", "Read more", "Lesen Sie auch",
  "Les også: <headline>"), short copyright notices, short picture credits ("Foto: dpa",
  "STR/AFP via Getty Images", a caption closed by "Foto: KCNA/Reuters"), placeholders of
  embeds awaiting consent ("Externer Inhalt nicht verfügbar"), teasers of other articles
  closed by their link's word ("... mehr") with the headline just before them;
- at the start or end only: calls to action, bylines, dates, reading times, update stamps
  (in the languages of the news dev corpus too);
- at the end: disclaimers and a writer's bio; an agency's sign-off ("(NTB)", "MDR (dst)")
  and closing credits ("With reporting by ...", "First published in ...", "Sendung: ...");
  a last line ending in a colon (it introduced
  something that is gone); everything from an "About the author" or "Sources" heading in the
  second half.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
# Lines that introduce other content, wherever they appear.
_LEAD_IN = re.compile(
    r"^\W*(related( posts| articles| stories| reading)?|also read|read also|read more"
    r"|more on (the|this) topic|see also|recommended( reading)?|you (may|might) also like"
    r"|sponsored content|advertisement|back to (top|blog)|share this( article| post)?"
    r"|further reading)\b",
    re.IGNORECASE,
)
# The same lead-ins in the languages of the news dev corpus ("Lesen Sie auch", "Les også:
# <headline>", "Noticia relacionada"): lines that point at another article.
_LEAD_IN_INTL = re.compile(
    r"^\W*(lesen sie (auch|mehr)|mehr zum thema|zum artikel|auch interessant|empfohlener"
    r" redaktioneller inhalt|les også|les mer|läs också|läs mer|læs også|lees ook|(à )?lire"
    r" aussi|lee también|noticia relacionada|leggi anche|leia também|czytaj (także|też)"
    r"|czytaj więcej|zobacz (też|także)|čtěte také|ilgili haber)\b",
    re.IGNORECASE,
)
# Picture credits and sources, short lines anywhere: "Foto: dpa", "Фото: ...", "(Picture: PA)".
_CREDIT = re.compile(
    r"^\W*(foto|fotos|photo|photos|bild|bilder|picture|quelle|source|kilde|källa|fuente"
    r"|fonte|фото|источник|credit|credits|image|bildrechte|bildquelle)s?\s*:"
    r"|^(quelle|source|kilde):? [\w ./&-]{1,40}$"
    # The label alone on its line (the credit follows on the next) and an image's stand-in.
    r"|^(bildrechte|bildquelle)$|^placeholder image(-\d+)?$",
    re.IGNORECASE,
)
_CREDIT_MAX_CHARS = 100
# A picture's credit on its own line ("Andrea Verdelli/Getty Images", "STR/AFP via Getty
# Images", "IMAGO/Nico Herbertz") or closing its caption ("... Foto: KCNA/Reuters"): the
# agency after a slash or "via", or a "Foto:"/"Bild:" label near the end of a short line.
_AGENCY = (
    r"(getty ?images|shutterstock|imago|picture[ -]alliance|istock(photo)?|reuters|afp|dpa"
    r"|epa|ap photo|keystone|alamy|anp|ntb|tt|scanpix|ritzau|apa|sda|efe|ansa)"
)
# The forms are split by what each needs, so that most lines are cleared without a search
# trying an eight-way alternation at every position (~0.25 ms a page): the forms anchored at
# the line's start are tried there only, the label and bracket forms only on lines that have
# their ":" or ")" (the bracket forms start with "(", which the regex engine scans for fast).
_PICTURE_CREDIT_LINE = re.compile(
    rf"^[^.!?]{{0,60}}(/|\bvia )\s*{_AGENCY}\b[^.!?]{{0,40}}$"
    rf"|^{_AGENCY}/[^.!?]{{0,40}}$"
    r"|^\W*(ap|afp|epa) photo\W*$",
    re.IGNORECASE,
)
_PICTURE_CREDIT_LABEL = re.compile(
    r"\b(foto|fotos|bild|photo|photograph|picture|image|credit|kuva|zdjęcie)\s*:\s*[^.:!?]{2,60}$",
    re.IGNORECASE,
)
# A caption closed by its credit in brackets, which may hold full stops: "(Photo: Frank
# van Beek / UN Photo. Courtesy of the ICJ)", "(AP Photo/Damian Dovarganes)", "(AP)".
_PICTURE_CREDIT_BRACKETS = re.compile(
    r"\((?:(foto|photo|picture|image|bild)s?\s*:[^()]{2,150}\)$"
    rf"|({_AGENCY}|ap)( photo)?\s*(/[^()]{{1,60}})?\)$)",
    re.IGNORECASE,
)
# ... or by the agency that sells it, after the caption's last full stop or alone:
# "... on May 7, 2025. Photo by X /AFP via Getty Images", "Kathyn8 | Getty Images".
_PICTURE_CREDIT_GETTY = re.compile(r"\bgetty( ?images)?\)?$", re.IGNORECASE)
_PICTURE_CREDIT_MAX_CHARS = 300
# Placeholders of embeds blocked until the reader consents (video, social posts, charts):
# "Externer Inhalt nicht verfügbar", "Ein Klick für den Datenschutz", "accept cookies".
# Every letter in it is lower case: on an ASCII line, searching the lower-cased line without
# IGNORECASE finds the same (no ASCII character has a case fold of its own), and each
# alternative then starts with a plain letter the regex engine scans for (~0.3 ms a page; most
# lines are ASCII).
_CONSENT_PATTERN = (
    r"externe[nrs]? inhalte?\b|privatsphäre-einstellungen|ein klick für den datenschutz"
    r"|zur anzeige aktiviere|link zum youtube-inhalt|(accept|enable|allow) (all )?cookies"
    r"|cookie (settings|preferences)|your browser does not support"
    r"|(view|see|display) this content\b.{0,40}\b(consent|accept|enable|cookies)"
)
_CONSENT = re.compile(_CONSENT_PATTERN, re.IGNORECASE)
_CONSENT_ASCII = re.compile(_CONSENT_PATTERN)
_CONSENT_MAX_CHARS = 300
# A teaser of another article: a sentence or two closed by its link's word, "... mehr".
_TEASER = re.compile(
    r"[.!?…\"“”»]\s+(mehr|more|weiterlesen|read more|lire la suite|leer más|les mer|läs mer"
    r"|læs mere|czytaj dalej)\W*$",
    re.IGNORECASE,
)
_TEASER_MAX_CHARS = 400
# The teaser's headline just before it: short and not a sentence.
_TEASER_HEADLINE_MAX_CHARS = 100
# Dates, reading times and update stamps, calls to share or subscribe, in many languages:
# boilerplate at the start or end only (like _EDGE).
_EDGE_INTL = re.compile(
    r"^\d{1,2}\.\d{1,2}\.\d{2,4}(,? \d{1,2}[:.]\d{2}( uhr)?)?$|^\d{1,2}:\d{2}\b"
    r"|\b(lesedauer|lesezeit|temps de lecture|tiempo de lectura|tempo di lettura|lesetid)\b"
    r"|^(aktualisiert|veröffentlicht|uppdaterad|publicerad|oppdatert|publisert|mis à jour"
    r"|publié|actualizado|publicado|aggiornato|pubblicato|güncelleme|opublikowano)\b"
    r"|fehler gefunden|jetzt melden|ihre meinung ist uns wichtig|hat ihnen dieser artikel"
    r"|unterstützen sie uns|folgst du|abonniere|abonnieren|newsletter|whatsapp-kanal"
    r"|il vous reste|la suite est réservée|abonnez-vous|suscríbete|iscriviti"
    r"|stay informed|do you have a story|get in touch|sign up for|whatsapp[- ]channel"
    r"|(on|in|di|auf) google news|for more stories like this|kommentar abzugeben|kommentar abgeben"
    r"|(leave|post|write) a comment",
    re.IGNORECASE,
)
# An agency's or a broadcaster's credit closing a report: "(NTB)", "MDR (dst)", "SDA/sep".
_SIGN_OFF = re.compile(r"^\(?[A-Z]{2,6}\)?( \([^()]{1,60}\))?$|^[A-Z]{2,6}/[a-z]{2,6}$")
# The credits closing a report (at the end only): who else reported, where it first ran, the
# programme it aired in and the rights ("With reporting by ...", "First published in The
# Conversation.", "Sendung: Antenne Brandenburg, 24.04.2024", "Rechte: MDR").
_CLOSING_CREDIT = re.compile(
    r"^\W*(with |additional )*(reporting|reports) (by|from)\b|contributed to this (report|story)"
    r"|^first published (in|on|by)\b|\bzuerst (bei|in|auf)\b.{0,60}\berschienen"
    r"|^(sendung|rechte|redaktion|übersetzung|mitarbeit|faktencheck|schlussredaktion)\s*:",
    re.IGNORECASE,
)
# Copyright notices (short lines only: a longer line is prose that mentions copyright).
_COPYRIGHT = re.compile(r"©|\(c\) \d{4}|\bcopyright \d{4}|all rights reserved", re.IGNORECASE)
# Calls to action, disclosures, bylines and dates: boilerplate at the start or end only.
_EDGE = re.compile(
    r"\bsign up\b|\bsubscribe\b|newsletter|get started|\bjoin (us|our|the)\b|follow us"
    r"|thank you for (reading|being)|read our|\bminute read\b|\bmin read\b"
    r"|\bwe (may )?earn\b|affiliate (links?|commission)|\bearn (a )?commission"
    r"|this (story|article|post) (was|is) (produced|written|developed)"
    r"|^by[: ]|^(posted|published|updated)( on)?[: ]|^(posted|published|updated|last updated)\W*$"
    r"|^\w+ \d{1,2}, \d{4}$|^\d{1,2} \w+ \d{4}$|^(table of )?contents$|^key takeaways$"
    r"|^in this article$|^[\d,.]+$|^(medically )?reviewed by\b"
    r"|^(image|photo|photograph)( credit)?s?\s*:",
    re.IGNORECASE,
)
# A paywall's notice where the free part of an article ends ("Il vous reste 57% de cet article
# à lire", "Jetzt weiterlesen mit BZ+"): what follows is the paywall's own text (offers, a
# device-limit notice), never more of the article.
_PAYWALL = re.compile(
    r"\bil vous reste [\d.,]+ ?% de cet article|\bla suite est réservée aux abonnés"
    r"|^(jetzt )?weiterlesen mit \w+ ?\+|\bresten av (artikkelen|saken) er for abonnenter"
    r"|\bthe rest of (this|the) (article|story) is (only )?(for|available to|reserved for) "
    r"(subscribers|members)|\bthis (article|story) is (exclusive|only available) (to|for) "
    r"(subscribers|members)|\bder rest des artikels ist (nur )?für abonnenten",
    re.IGNORECASE,
)
_PAYWALL_MAX_CHARS = 200
# Words of article before a paywall's notice: one in the page's header is not its end.
_PAYWALL_MIN_WORDS_BEFORE = 40
# A heading that starts the author's (or reviewer's) bio or the list of sources: it and what
# follows are not the article, when it comes in the second half of the text. (FAQ headings
# are not here: on the dev pages the gold text usually keeps the FAQ.)
_BIO_HEADING = re.compile(
    r"^\W*(about (the|this|our) (authors?|writers?|reviewers?|contributors?|experts?)"
    r"|(article )?sources)\W*$",
    re.IGNORECASE,
)
# Disclaimers and a writer's bio that close a page: cut at the end only (the same words in the
# middle of an article are usually its subject), up to _TAIL_MAX_LINES lines of at most
# _TAIL_MAX_CHARS characters.
_DISCLAIMER = re.compile(
    r"not intended (to|as)\b|for (general )?information(al)? (purposes )?only"
    r"|do(es)? not (necessarily )?(reflect|represent)|(is|are) subject to (the )?risks?"
    r"|past performance|registered investment advis|\bdisclaimer\b|^\W*disclosure\b"
    r"|(do(es)? not|is not intended to) (provide|constitute|offer|give)\b.{0,40}\badvice"
    r"|registered trademarks?|trademarks? (owned|of)\b|should not be (construed|considered|relied)"
    r"|consult (a|your) (qualified|licensed|professional)|views (expressed|and opinions)"
    r"|affiliate links?|may (receive|earn) (a )?(small )?commission",
    re.IGNORECASE,
)
# "Jane Doe is a freelance writer ...": a name, a verb of description, and a writer's role.
_BIO = re.compile(
    r"^(dr\.? )?[A-Z][\w'.-]+( [A-Z]\.)?( [A-Z][\w'-]+){1,2},? "
    r"(is|was|has been|holds|joined|serves|writes|covers|lives)\b"
)
_WRITER = re.compile(
    r"\b(writer|journalist|editor|reporter|author|contributor|columnist|freelancer?"
    r"|correspondent|blogger)\b",
    re.IGNORECASE,
)
_TAIL_MAX_LINES = 8
_TAIL_MAX_CHARS = 400
_EDGE_HEAD = 3
_EDGE_TAIL = 4
# Longer lines are prose, whatever words they contain.
_EDGE_MAX_CHARS = 200


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def word_key(text: str) -> str:
    return " ".join(_words(text))


def trim(lines: list[str], headings: list[str]) -> list[str]:
    """Drops the headline repeated at the top and boilerplate lines (see module doc)."""
    heads = [k for k in (word_key(h) for h in headings) if k]
    kept: list[str] = []
    for n, line in enumerate(lines):
        # The first lines repeating the headline (or a prefix of a longer page title).
        if n < _EDGE_HEAD and _repeats_heading(word_key(line), heads):
            continue
        if _LEAD_IN.match(line) or (len(line) < _EDGE_MAX_CHARS and _COPYRIGHT.search(line)):
            continue
        if _LEAD_IN_INTL.match(line) or (len(line) < _CREDIT_MAX_CHARS and _CREDIT.match(line)):
            continue
        if _chrome(line):
            continue
        if len(line) < _TEASER_MAX_CHARS and _TEASER.search(line):
            if kept and len(kept[-1]) < _TEASER_HEADLINE_MAX_CHARS and kept[-1][-1] not in ".!?:":
                kept.pop()
            continue
        kept.append(line)
    for n in range(max(1, len(kept) // 2), len(kept)):
        if _BIO_HEADING.match(kept[n]):
            kept = kept[:n]
            break
    kept = _before_paywall(kept)
    start = 0
    while (
        start < min(_EDGE_HEAD, len(kept))
        and len(kept[start]) < _EDGE_MAX_CHARS
        and _edge(kept[start])
    ):
        start += 1
    end = len(kept)
    while (
        end > start
        and len(kept) - end < _EDGE_TAIL
        and len(kept[end - 1]) < _EDGE_MAX_CHARS
        and (_edge(kept[end - 1]) or _closing_credit(kept[end - 1]))
    ):
        end -= 1
    cut = 0
    while end > start + 1 and cut < _TAIL_MAX_LINES and _closing_note(kept[end - 1]):
        end -= 1
        cut += 1
    # A last line ending in a colon introduced what followed it (a link, a live blog, a
    # box) and is gone: "Mehr zur Lage lesen Sie in unserem Liveblog:".
    if end > start + 1 and len(kept[end - 1]) < _EDGE_MAX_CHARS and kept[end - 1].endswith(":"):
        end -= 1
    return kept[start:end]


def _before_paywall(lines: list[str]) -> list[str]:
    """``lines`` up to a paywall's notice that follows some article text (see _PAYWALL)."""
    words = 0
    for n, line in enumerate(lines):
        if (
            words >= _PAYWALL_MIN_WORDS_BEFORE
            and len(line) < _PAYWALL_MAX_CHARS
            and _PAYWALL.search(line)
        ):
            return lines[:n]
        words += len(line.split())
    return lines


def _repeats_heading(key: str, heads: list[str]) -> bool:
    return len(key) > 10 and any(h == key or h.startswith(key) for h in heads)


def _chrome(line: str) -> bool:
    """True for a picture credit or an embed's consent placeholder (_PICTURE_CREDIT_*, _CONSENT)."""
    if len(line) < _PICTURE_CREDIT_MAX_CHARS and (
        _PICTURE_CREDIT_LINE.match(line)
        or (":" in line and _PICTURE_CREDIT_LABEL.search(line))
        or (")" in line and _PICTURE_CREDIT_BRACKETS.search(line))
        or _PICTURE_CREDIT_GETTY.search(line)
    ):
        return True
    if len(line) >= _CONSENT_MAX_CHARS:
        return False
    if line.isascii():
        return bool(_CONSENT_ASCII.search(line.lower()))
    return bool(_CONSENT.search(line))


def _edge(line: str) -> bool:
    """True for a line that is boilerplate when it opens or closes the text (see _EDGE)."""
    return bool(_EDGE.search(line) or _EDGE_INTL.search(line))


def _closing_credit(line: str) -> bool:
    """True for an agency's sign-off or a closing credit (_SIGN_OFF, _CLOSING_CREDIT)."""
    return bool(_SIGN_OFF.match(line) or _CLOSING_CREDIT.search(line))


def _closing_note(line: str) -> bool:
    """True for a disclaimer or a writer's bio (see _DISCLAIMER), judged at the page's end."""
    return len(line) < _TAIL_MAX_CHARS and bool(
        _DISCLAIMER.search(line) or (_BIO.match(line) and _WRITER.search(line))
    )


def drop_repeats(lines: list[str]) -> list[str]:
    """``lines`` without a line equal to the one before it."""
    return [line for n, line in enumerate(lines) if n == 0 or line != lines[n - 1]]
