"""Producers: read articles from files, folders, feeds and web archives and publish them raw.

``producers.sources.source_for`` picks the source for a path or URL; ``producers.publish``
sends sources to the raw topic.
"""
