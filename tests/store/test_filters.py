"""EmbeddingStore metadata filters: applied while searching, so `top_k` hits come back whenever that many rows
match, equal to a brute-force search over the matching rows."""

from __future__ import annotations

import numpy as np
import pytest

from sentembed.store import EmbeddingStore
from sentembed.util import semantic_search

LANGS = ("en", "de", "fr", "es")


def metadata_of(row: int) -> dict:
    """Seeded metadata: a year, a language, a flag; every seventh row lacks the language, and some years are
    strings (another type, which number comparisons never match)."""
    rng = np.random.default_rng(row)
    meta = {"year": int(rng.integers(1990, 2025)), "reviewed": bool(rng.integers(0, 2))}
    if row % 7:
        meta["lang"] = LANGS[int(rng.integers(0, 4))]
    if row % 50 == 0:
        meta["year"] = "unknown"
    return meta


def matches(meta: dict, conditions: dict) -> bool:
    """The filter semantics, written out plainly, for the brute-force oracle."""
    for key, condition in conditions.items():
        condition = condition if isinstance(condition, dict) else {"$eq": condition}
        present, value = key in meta, meta.get(key)
        for name, operand in condition.items():
            if name in ("$ne", "$nin"):
                group = [operand] if name == "$ne" else operand
                if present and any(_equal(value, item) for item in group):
                    return False
                continue
            if not present:
                return False
            group = operand if name == "$in" else [operand]
            if name in ("$eq", "$in") and not any(_equal(value, item) for item in group):
                return False
            if name in ("$gt", "$gte", "$lt", "$lte"):
                if type(value) is bool or not isinstance(value, type(operand)):
                    return False
                ok = {
                    "$gt": value > operand,
                    "$gte": value >= operand,
                    "$lt": value < operand,
                    "$lte": value <= operand,
                }
                if not ok[name]:
                    return False
    return True


def _equal(value, operand) -> bool:
    kinds = (type(value) is bool, type(operand) is bool, isinstance(value, str), isinstance(operand, str))
    return kinds[0] == kinds[1] and kinds[2] == kinds[3] and value == operand


FILTERS = [
    {"year": 2020},
    {"lang": {"$in": ["de", "fr"]}},
    {"year": {"$gte": 2010, "$lt": 2020}},
    {"year": {"$gt": 2000, "$lte": 2004}, "lang": "en"},
    {"lang": {"$ne": "en"}, "reviewed": True},
    {"lang": {"$nin": ["en", "de"]}, "year": {"$ne": 2001}},
    {"year": "unknown"},
    {"lang": {"$nin": list(LANGS)}},
    {"year": {"$eq": 1995}, "reviewed": {"$eq": False}},
]


@pytest.fixture(scope="module")
def filtered(scifact_1k, tmp_path_factory):
    """The SciFact 1k documents in three segments with seeded metadata, and that metadata."""
    metadata = [metadata_of(row) for row in range(1000)]
    path = tmp_path_factory.mktemp("filters") / "store"
    store = EmbeddingStore.create(
        path, scifact_1k.docs[:400], texts=scifact_1k.doc_texts[:400], metadata=metadata[:400]
    )
    store.add(scifact_1k.docs[400:700], texts=scifact_1k.doc_texts[400:700], metadata=metadata[400:700])
    store.add(scifact_1k.docs[700:], metadata=metadata[700:])  # metadata without texts
    return store, metadata


@pytest.mark.parametrize("conditions", FILTERS)
def test_a_filter_returns_the_exact_top_k_of_the_matching_rows(scifact_1k, filtered, conditions):
    store, metadata = filtered
    rows = np.array([row for row in range(1000) if matches(metadata[row], conditions)])
    assert 0 < len(rows) < 1000
    hits = store.search(scifact_1k.queries[:20], top_k=10, filter=conditions)
    exact = semantic_search(scifact_1k.queries[:20], scifact_1k.docs[rows], top_k=10)
    assert [[hit["corpus_id"] for hit in row] for row in hits] == [
        [int(rows[h["corpus_id"]]) for h in row] for row in exact
    ]
    assert all(len(row) == min(10, len(rows)) for row in hits)


def test_a_rare_filter_still_fills_top_k_and_respects_deletes(scifact_1k, filtered, tmp_path):
    import shutil

    store, metadata = filtered
    shutil.copytree(store.path, tmp_path / "copy")
    copy = EmbeddingStore.open(tmp_path / "copy")
    conditions = {"year": 1990, "reviewed": True}
    rows = [row for row in range(1000) if matches(metadata[row], conditions)]
    assert 5 <= len(rows) <= 25  # about 1.5% of the rows
    hits = copy.search(scifact_1k.queries[:5], top_k=len(rows) + 5, filter=conditions)
    assert all(sorted(hit["corpus_id"] for hit in row) == rows for row in hits)
    copy.delete(rows[:3])
    hits = copy.search(scifact_1k.queries[:5], top_k=4, filter=conditions)
    assert all(len(row) == 4 and not {hit["corpus_id"] for hit in row} & set(rows[:3]) for row in hits)
    assert copy.search(scifact_1k.queries[:2], filter={"lang": "xx"}) == [[], []]


@pytest.mark.parametrize("precision", ["int8", "ubinary"])
def test_quantized_stores_filter_before_taking_candidates(scifact_1k, tmp_path, precision):
    metadata = [metadata_of(row) for row in range(1000)]
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs, metadata=metadata, precision=precision)
    conditions = {"lang": "de", "year": {"$lt": 2000}}
    rows = {row for row in range(1000) if matches(metadata[row], conditions)}
    hits = store.search(scifact_1k.queries[:20], top_k=10, filter=conditions)
    assert all(len(row) == 10 and {hit["corpus_id"] for hit in row} <= rows for row in hits)
    exact = semantic_search(scifact_1k.queries[:20], scifact_1k.docs[sorted(rows)], top_k=1)
    assert [row[0]["corpus_id"] for row in hits] == [sorted(rows)[row[0]["corpus_id"]] for row in exact]


def test_a_chunked_store_filters_on_its_documents_metadata(minilm_l3, sts_sentences, tmp_path):
    texts = [" ".join(sts_sentences[i : i + 5]) for i in range(0, 100, 5)]
    metadata = [{"group": i % 3} for i in range(20)]
    store = EmbeddingStore.build(
        tmp_path / "s", minilm_l3, texts, metadata=metadata, chunk_tokens=20, show_progress_bar=False
    )
    hits = store.search(sts_sentences[7], top_k=20, filter={"group": 1})[0]
    assert sorted(hit["corpus_id"] for hit in hits) == [i for i in range(20) if i % 3 == 1]


@pytest.mark.parametrize(
    ("conditions", "error", "message"),
    [
        ({"year": {"$between": [1, 2]}}, ValueError, r"filter on 'year': unknown operator '\$between'"),
        ({"lang": {"$in": "en"}}, ValueError, r"filter on 'lang': \$in takes a list"),
        ({"year": {"$gt": None}}, ValueError, r"filter on 'year': \$gt compares with a number or a string"),
        ({"year": {"$eq": [2020]}}, ValueError, r"filter on 'year': \$eq takes a number, a string"),
        ({"year": {}}, ValueError, r"filter on 'year' has no operator"),
        ({"$or": [{"a": 1}]}, ValueError, r"filter key '\$or' is not a metadata key"),
        ([("year", 2020)], TypeError, r"filter must be a dict"),
    ],
)
def test_bad_filters_name_the_key_and_operator(scifact_1k, filtered, conditions, error, message):
    store, _ = filtered
    with pytest.raises(error, match=message):
        store.search(scifact_1k.queries[:1], filter=conditions)
