"""Elasticsearch: the client factory, the article index template and alias, typed hits."""
