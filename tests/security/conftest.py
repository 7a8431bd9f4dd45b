"""The security tests use the search tests' SciFact embeddings."""

from tests.search.conftest import scifact_1k  # noqa: F401
