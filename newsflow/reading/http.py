"""What an input location is: an http(s) URL or a file path.

Fetching a URL is newsflow.web.client's (the crawler's rules for every request).
"""

from __future__ import annotations


def is_url(location: str) -> bool:
    """Whether ``location`` is an http(s) URL rather than a file path."""
    return location.lower().startswith(("http://", "https://"))
