"""Use cases. Only services open transactions (through the writer or the reader)."""
