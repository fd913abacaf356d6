"""Word lists the taggers read, one plain-text file per kind and language (``<kind>-<lang>.txt``).

Kinds: ``topics`` (IPTC topic lexicons), ``generic`` (news words that are never keywords) and
``countries`` (country short forms and nationals the pycountry translations lack). Lines
starting with ``#`` are comments. Files ship inside the package and are read on first use.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

#: Languages that have every kind of list (topics, generic words, countries).
LANGUAGES = ("en", "de", "fr", "es")


@cache
def read(kind: str, language: str) -> str | None:
    """The text of ``<kind>-<language>.txt`` without comment lines, or None if there is none."""
    resource = files(__name__) / f"{kind}-{language}.txt"
    if not resource.is_file():
        return None
    lines = resource.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))
