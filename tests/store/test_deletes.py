"""EmbeddingStore deletes, upserts and compaction: seen at once by every search and by `count`, equal to a
brute-force search over the live rows, and surviving a real process killed (SIGKILL) at chosen points."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from sentembed.store import EmbeddingStore
from sentembed.util import semantic_search
from tests.support.paths import REPO

DOC_IDS = [f"d{i}" for i in range(300)]


def make_store(path, docs, precision="float32") -> EmbeddingStore:
    """300 SciFact documents in three segments, with string ids d0..d299 and texts t0..t299."""
    store = EmbeddingStore.create(
        path, docs[:100], ids=DOC_IDS[:100], texts=[f"t{i}" for i in range(100)], precision=precision
    )
    for start in (100, 200):
        store.add(
            docs[start : start + 100],
            ids=DOC_IDS[start : start + 100],
            texts=[f"t{i}" for i in range(start, start + 100)],
        )
    return store


def brute_force(queries, docs, ids, top_k=10) -> list[list[str]]:
    return [[ids[hit["corpus_id"]] for hit in row] for row in semantic_search(queries, docs, top_k=top_k)]


def hit_ids(hits) -> list[list]:
    return [[hit["corpus_id"] for hit in row] for row in hits]


@pytest.mark.parametrize("precision", ["float32", "int8", "ubinary"])
def test_deleted_rows_leave_every_search_and_the_count(scifact_1k, tmp_path, precision):
    docs = scifact_1k.docs[:300]
    store = make_store(tmp_path / "s", docs, precision)
    reader = EmbeddingStore.open(tmp_path / "s")  # opened before the delete, in the same state as another process
    reader.search(docs[:1])
    gone = [f"d{i}" for i in range(0, 300, 3)]
    assert store.delete([*gone, "not-there", gone[0]]) == len(gone)
    keep = [i for i in range(300) if i % 3]
    for view in (store, reader, EmbeddingStore.open(tmp_path / "s")):
        assert view.count == len(view) == 200 and list(view.ids) == [DOC_IDS[i] for i in keep]
        hits = view.search(docs[:30], top_k=10)
        assert not {hit for row in hit_ids(hits) for hit in row} & set(gone)
        if precision == "float32":
            assert hit_ids(hits) == brute_force(docs[:30], docs[keep], [DOC_IDS[i] for i in keep])
        else:
            assert all(len(row) == 10 for row in hits)
    np.testing.assert_array_equal(store.embeddings(), docs[keep])
    assert store.search(docs[3], top_k=300)[0][-1]["score"] < 1  # 200 hits, none of them a deleted row
    assert len(store.search(docs[3], top_k=300)[0]) == 200
    assert store.delete(gone) == 0


def test_delete_checks_its_ids(scifact_1k, tmp_path):
    store = make_store(tmp_path / "s", scifact_1k.docs[:300])
    with pytest.raises(TypeError, match="ids must be a list of ids, got str"):
        store.delete("d1")
    with pytest.raises(TypeError, match="this store's ids are strings; got ints"):
        store.delete([1, 2])
    with pytest.raises(TypeError, match=r"ids\[1\]"):
        store.delete(["d1", 2.5])
    assert store.count == 300


def test_upsert_replaces_rows_and_adds_new_ones_in_one_commit(scifact_1k, tmp_path):
    docs = scifact_1k.docs
    store = make_store(tmp_path / "s", docs[:300])
    store.upsert(
        ["d5", "new"], embeddings=docs[[500, 501]], texts=["five again", "a new row"], metadata=[{"a": 1}, None]
    )
    assert store.count == 301
    best = store.search(docs[500], top_k=1, return_texts=True)[0][0]
    assert best["corpus_id"] == "d5" and best["text"] == "five again" and best["score"] == pytest.approx(1, abs=1e-5)
    assert "d5" not in hit_ids(store.search(docs[5], top_k=5))[0]  # the old row of d5 is gone
    assert store.search(docs[501], top_k=1)[0][0]["corpus_id"] == "new"
    assert list(store.ids).count("d5") == 1
    with pytest.raises(ValueError, match="texts .* or embeddings"):
        store.upsert(["d1"])
    with pytest.raises(ValueError, match="got 2 embeddings for 1 ids"):
        store.upsert(["d1"], embeddings=docs[:2])
    with pytest.raises(ValueError, match="appears more than once"):
        store.upsert(["d1", "d1"], embeddings=docs[:2])
    with pytest.raises(TypeError, match="this store's ids are strings; got ints"):
        store.upsert([7], embeddings=docs[:1])
    assert store.count == 301


def test_upsert_encodes_texts_with_the_store_model_and_rechunks_documents(minilm_l3, sts_sentences, tmp_path):
    texts = sts_sentences[:40]
    store = EmbeddingStore.build(tmp_path / "plain", minilm_l3, texts, show_progress_bar=False)
    store.upsert([3], texts=[sts_sentences[100]])
    assert store.search(sts_sentences[100], top_k=1)[0][0] == pytest.approx({"corpus_id": 3, "score": 1.0}, abs=1e-5)
    assert store.get_text(40) == sts_sentences[100]

    long_texts = [" ".join(sts_sentences[i : i + 6]) for i in range(0, 60, 6)]
    chunked = EmbeddingStore.build(
        tmp_path / "chunked", minilm_l3, long_texts, ids=[f"doc{i}" for i in range(10)], chunk_tokens=24,
        show_progress_bar=False,
    )  # fmt: skip
    rows_before = chunked.count
    replacement = " ".join(sts_sentences[200:210])
    chunked.upsert(["doc2"], texts=[replacement])
    hit = chunked.search(sts_sentences[205], top_k=1, return_texts=True)[0][0]
    assert hit["corpus_id"] == "doc2" and sts_sentences[205] in hit["text"]
    documents = [h["corpus_id"] for h in chunked.search(sts_sentences[12], top_k=10)[0]]
    assert len(documents) == len(set(documents)) == 10  # every document once, doc2 by its new chunks
    assert chunked.delete(["doc2", "doc5"]) == 2
    assert {h["corpus_id"] for h in chunked.search(sts_sentences[205], top_k=10)[0]} == {
        f"doc{i}" for i in range(10) if i not in (2, 5)
    }
    assert chunked.count < rows_before
    with pytest.raises(ValueError, match="splits texts into chunks itself"):
        chunked.upsert(["doc1"], embeddings=np.ones((1, 384), dtype=np.float32))


def test_compact_reclaims_space_and_keeps_every_answer(scifact_1k, tmp_path):
    docs = scifact_1k.docs[:300]
    store = make_store(tmp_path / "s", docs, "ubinary")
    reader = EmbeddingStore.open(tmp_path / "s")
    store.delete(DOC_IDS[:100] + DOC_IDS[150:160])  # all of the first segment, part of the second
    before = store.search(docs[:40], top_k=10, return_texts=True)
    size_before = sum(path.stat().st_size for path in store.path.iterdir())
    assert store.compact() == 110
    assert store.compact() == 0
    assert sum(path.stat().st_size for path in store.path.iterdir()) < 0.7 * size_before
    assert sorted(path.name for path in store.path.glob("deleted-*")) == []
    for view in (store, reader, EmbeddingStore.open(tmp_path / "s")):
        assert view.search(docs[:40], top_k=10, return_texts=True) == before
        assert view.count == 190 and view.manifest.deleted is None and view.verify() > 0
    assert [segment.name for segment in store.manifest.segments] == ["000003", "000002"]
    store.add(docs[:5], ids=["x0", "x1", "x2", "x3", "x4"])
    assert [segment.name for segment in store.manifest.segments] == ["000003", "000002", "000004"]
    assert store.search(docs[2], top_k=1)[0][0]["corpus_id"] == "x2"


def test_default_ids_never_repeat_a_stored_id_after_deletes(scifact_1k, tmp_path):
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs[:10])
    store.delete([3])
    store.compact()
    store.add(scifact_1k.docs[10:12])
    assert list(store.ids) == [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]


def test_a_store_with_deletes_is_a_version_older_readers_refuse(scifact_1k, tmp_path):
    store = EmbeddingStore.create(tmp_path / "s", scifact_1k.docs[:10])
    manifest = tmp_path / "s" / "manifest.json"
    assert json.loads(manifest.read_text())["version"] == 2  # a plain store stays readable by older releases
    store.delete([3])
    assert json.loads(manifest.read_text())["version"] == 3  # releases that read only 1 and 2 refuse it
    assert EmbeddingStore.open(tmp_path / "s").count == 9
    store.compact()
    assert json.loads(manifest.read_text())["version"] == 2


def test_a_build_does_not_resume_a_store_with_deleted_rows(minilm_l3, sts_sentences, tmp_path):
    store = EmbeddingStore.build(tmp_path / "s", minilm_l3, sts_sentences[:20], show_progress_bar=False)
    store.delete([4])
    with pytest.raises(ValueError, match="has deleted rows, so a build cannot resume it"):
        EmbeddingStore.build(tmp_path / "s", minilm_l3, sts_sentences[:30], show_progress_bar=False)


KILLED_WRITER = """
import os, re, signal, sys
from pathlib import Path
import numpy as np
from sentembed.store import EmbeddingStore

store_path, operation, rows_path = sys.argv[1], sys.argv[2], sys.argv[5]
pattern, nth = re.compile(sys.argv[3]), int(sys.argv[4])
seen = 0
real_replace, real_unlink = os.replace, os.unlink


def kill_at(name):
    global seen
    if pattern.fullmatch(Path(name).name):
        seen += 1
        if seen == nth:
            os.kill(os.getpid(), signal.SIGKILL)


def replace(source, target):
    kill_at(target)
    real_replace(source, target)


def unlink(path, *args, **kwargs):
    kill_at(path)
    real_unlink(path, *args, **kwargs)


os.replace, os.unlink = replace, unlink
sys.path.insert(0, ".")
from tests.store.test_deletes import run_operation

run_operation(EmbeddingStore.open(store_path), operation, np.load(rows_path))
"""


def run_operation(store: EmbeddingStore, operation: str, rows: np.ndarray) -> None:
    """The write that the killed process makes (and that the test makes on a copy, for the state after)."""
    if operation == "delete":
        store.delete(DOC_IDS[::3])
    elif operation == "upsert":
        store.upsert([*DOC_IDS[:60], "new"], embeddings=rows[:61], texts=[f"u{i}" for i in range(61)])
    else:
        store.compact()


def store_state(store: EmbeddingStore, queries: np.ndarray) -> tuple:
    """What a reader sees: live rows, ids, hits with their texts (by the exact scan, and by BM25 and the rows the
    graph holds when the store has those indexes), and the segments (which compaction replaces)."""
    hits = store.search(queries, top_k=10, return_texts=True, exact=True)
    answers = [[(h["corpus_id"], h["text"]) for h in row] for row in hits]
    if store.manifest.lexical is not None:
        answers.append([h["corpus_id"] for h in store.search("t5 t150 u3 u40 new", mode="lexical", top_k=20)[0]])
    if store.manifest.index is not None:
        answers.append(store.manifest.index["rows"] == store.manifest.count)
        answers.append(store.search(queries[:1], top_k=1)[0][0]["corpus_id"] == hits[0][0]["corpus_id"])
    return store.count, list(store.ids), answers, [segment.name for segment in store.manifest.segments]


@pytest.mark.parametrize(
    ("operation", "pattern", "nth"),
    [
        ("delete", r"deleted-.*", 1),  # before the new tombstone file is in place
        ("delete", r"manifest\.json", 1),  # tombstones written, manifest not yet
        ("delete", r"deleted-.*", 2),  # committed; the old tombstone file not yet removed
        ("upsert", r"[0-9]{6}\..*", 3),  # in the middle of the new segment's files
        ("upsert", r"manifest\.json", 1),  # segment and tombstones written, manifest not yet
        ("compact", r"[0-9]{6}\..*", 4),  # in the middle of writing the replacement segments
        ("compact", r"manifest\.json", 1),
        ("compact", r"000000\.float32\.npy", 1),  # committed; removing the replaced segments
    ],
)
def test_a_writer_killed_at_any_point_leaves_the_store_before_or_after(scifact_1k, tmp_path, operation, pattern, nth):
    check_killed_writer(scifact_1k.docs, tmp_path, operation, pattern, nth, indexed=False)


@pytest.mark.parametrize(
    ("operation", "pattern", "nth"),
    [
        ("upsert", r"lexical-.*", 2),  # in the middle of the new BM25 index's files
        ("upsert", r"hnsw-.*", 1),  # the new graph not yet in place
        ("compact", r"hnsw-.*", 2),  # committed; removing the replaced graph
    ],
)
def test_a_writer_killed_while_writing_the_indexes_leaves_them_before_or_after(
    scifact_1k, tmp_path, operation, pattern, nth
):
    pytest.importorskip("bm25s")
    pytest.importorskip("usearch")
    check_killed_writer(scifact_1k.docs, tmp_path, operation, pattern, nth, indexed=True)


def check_killed_writer(docs, tmp_path, operation: str, pattern: str, nth: int, indexed: bool) -> None:
    """Kill a second process making `operation` at the `nth` file named by `pattern`; the store must open,
    verify and answer as before or after it, and the write made again must complete."""
    store = make_store(tmp_path / "s", docs[:300], "ubinary")
    if indexed:
        store.build_lexical_index()
        store.build_index("hnsw")
    store.delete(["d1", "d2", "d200"])  # so that there is a tombstone file to replace, and rows to compact
    np.save(tmp_path / "rows.npy", docs[400:500])
    shutil.copytree(tmp_path / "s", tmp_path / "after")
    queries = docs[:60:3]
    before = store_state(store, queries)
    run_operation(EmbeddingStore.open(tmp_path / "after"), operation, docs[400:500])
    after = store_state(EmbeddingStore.open(tmp_path / "after"), queries)
    assert before != after
    arguments = [str(tmp_path / "s"), operation, pattern, str(nth), str(tmp_path / "rows.npy")]
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, *arguments], cwd=REPO, capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()[-2000:]
    survivor = EmbeddingStore.open(tmp_path / "s")
    survivor.verify()
    assert store_state(survivor, queries) in (before, after)
    run_operation(survivor, operation, docs[400:500])  # the write, made again, completes
    assert store_state(EmbeddingStore.open(tmp_path / "s"), queries) == after
    survivor.compact()
    assert store_state(EmbeddingStore.open(tmp_path / "s"), queries)[:3] == after[:3]
    assert not [path for path in survivor.path.iterdir() if path.name.endswith(".tmp")]


def test_tombstone_and_index_files_linked_out_of_the_store_are_refused(scifact_1k, tmp_path):
    pytest.importorskip("bm25s")
    pytest.importorskip("usearch")
    store = EmbeddingStore.create(
        tmp_path / "s", scifact_1k.docs[:200], texts=scifact_1k.doc_texts[:200], lexical=True, index="hnsw"
    )
    store.delete([1])
    names = [store.manifest.deleted["file"], f"{store.manifest.lexical['name']}.data.npy", store.manifest.index["file"]]
    outside = tmp_path / "outside"
    outside.mkdir()
    for name in names:
        (store.path / name).rename(outside / name)
        (store.path / name).symlink_to(outside / name)
        with pytest.raises(OSError, match=r"store file .* leaves the folder"):
            reopened = EmbeddingStore.open(store.path)  # reads the tombstones; the indexes are read when used
            if name.startswith("lexical"):
                reopened.search(scifact_1k.doc_texts[0], mode="lexical")
            reopened.search(scifact_1k.docs[:1])
        (store.path / name).unlink()
        (outside / name).rename(store.path / name)
    assert EmbeddingStore.open(store.path).verify() > 0
