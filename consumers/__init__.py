"""Consumers: pure stages (cleaning, tagging) and the thin Kafka loops around them."""
