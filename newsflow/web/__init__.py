"""Reading the web politely and safely: the one HTTP client of the crawler (feeds, sitemaps,
article pages).

- ``addresses``: which resolved addresses a URL may reach (no SSRF);
- ``robots``: robots.txt, fetched once per host and cached;
- ``hosts``: politeness per host (requests at once, delay between them);
- ``client``: ``WebClient``, the async GET with all of the above, timeouts, a size limit,
  redirects checked hop by hop, retries with backoff that honour Retry-After, and conditional
  requests. Failures are ``FetchError`` values with a reason from ``schemas.reasons``.
"""
