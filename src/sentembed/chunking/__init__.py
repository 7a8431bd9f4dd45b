"""Long documents in token windows: split a text into chunks with character offsets, for chunked search and
per-document vectors that are not silently cut at `max_seq_length`."""

from sentembed.chunking._windows import Chunk, Chunking, chunk_text, chunk_texts

__all__ = ["Chunk", "Chunking", "chunk_text", "chunk_texts"]
