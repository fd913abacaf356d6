"""Kafka: client factories, the pipeline's topics, and the one send-and-wait-for-ack helper."""
