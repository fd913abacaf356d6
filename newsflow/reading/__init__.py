"""Reading input bytes: sniffing, bounded gzip-safe reads, charsets and article ids."""
