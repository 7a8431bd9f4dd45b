"""What a store, its files and its writers cannot make us do: lose rows, mix corpora, read outside the store,
or return damaged vectors without saying so."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from sentembed.cli.main import main
from sentembed.quantization import quantize_embeddings
from sentembed.store import EmbeddingStore
from tests.support.paths import MINILM_L3, REPO

WRITER = """
import sys, time, zlib
from pathlib import Path
import numpy as np
from sentembed.store import EmbeddingStore

store_path, prefix, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
deadline = time.monotonic() + 60
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
store = EmbeddingStore.open(store_path)
for batch in range(10):
    ids = [f"{prefix}-{batch}-{row}" for row in range(100)]
    rows = [np.random.default_rng(zlib.crc32(i.encode())).normal(size=16) for i in ids]
    store.add(np.stack(rows).astype(np.float32), ids=ids)
"""


def vector_of(identifier: str) -> np.ndarray:
    """The vector the writer script stores for an id."""
    return np.random.default_rng(zlib.crc32(identifier.encode())).normal(size=16).astype(np.float32)


def test_two_processes_adding_to_one_store_lose_no_rows(tmp_path):
    EmbeddingStore.create(tmp_path / "store", np.stack([vector_of("seed")]), ids=["seed"])
    go = tmp_path / "go"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "store"), prefix, str(go)], cwd=REPO)
        for prefix in ("a", "b")
    ]
    time.sleep(3)  # both have imported sentembed and are waiting
    go.touch()
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]
    store = EmbeddingStore.open(tmp_path / "store")
    assert len(store) == 2001 and len(set(store.ids.tolist())) == 2001
    for identifier, row in zip(store.ids.tolist(), store.embeddings(), strict=True):
        np.testing.assert_array_equal(row, vector_of(identifier))


def test_a_writer_waits_for_the_lock_and_then_fails_clearly(tmp_path, monkeypatch):
    from sentembed.common.files import file_lock
    from sentembed.store import _store as store_module

    store = EmbeddingStore.create(tmp_path / "store", np.eye(4, dtype=np.float32))
    monkeypatch.setattr(store_module, "LOCK_TIMEOUT_S", 0.3)
    with file_lock(tmp_path / "store" / ".lock", 1, "the test"), pytest.raises(OSError, match="locked by another"):
        store.add(np.eye(4, dtype=np.float32))
    assert len(EmbeddingStore.open(tmp_path / "store")) == 4


def test_resuming_refuses_a_text_file_that_changed(tmp_path, sts_sentences, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sts_sentences[:30]) + "\n", encoding="utf-8")
    arguments = ["index", str(corpus), "--store", str(tmp_path / "store"), "--model", str(MINILM_L3), "--no-progress"]
    assert main(arguments) == 0
    corpus.write_text("\n".join([*sts_sentences[:10], "A line inserted later.", *sts_sentences[10:30]]) + "\n")
    capsys.readouterr()
    assert main(arguments) == 2
    assert "stored row 10 holds another text than texts[10] ('A line inserted later.')" in capsys.readouterr().err
    assert len(EmbeddingStore.open(tmp_path / "store")) == 30


def test_building_another_corpus_of_the_same_length_into_a_store_is_refused(minilm_l3, sts_sentences, tmp_path):
    EmbeddingStore.build(tmp_path / "store", minilm_l3, sts_sentences[:20], show_progress_bar=False)
    with pytest.raises(ValueError, match="stored row 0 holds another text"):
        EmbeddingStore.build(tmp_path / "store", minilm_l3, sts_sentences[20:40], show_progress_bar=False)


def test_int8_needs_more_than_one_row_to_calibrate(minilm_l3, scifact_1k, tmp_path):
    with pytest.raises(ValueError, match="ranges cannot be computed from 1 embedding"):
        minilm_l3.encode(["one text"], precision="int8")
    with pytest.raises(ValueError, match="ranges cannot be computed from 1 embedding"):
        quantize_embeddings(scifact_1k.docs[0], "int8")
    with pytest.raises(ValueError, match="too few"):
        EmbeddingStore.create(tmp_path / "one", scifact_1k.docs[:1], precision="int8")
    store = EmbeddingStore.create(
        tmp_path / "one", scifact_1k.docs[:1], precision="int8", calibration_embeddings=scifact_1k.docs
    )
    store.add(scifact_1k.docs[1:500])
    for row in (0, 7, 321):
        hits = store.search(scifact_1k.docs[row], top_k=5)[0]
        assert hits[0]["corpus_id"] == row


def test_nan_and_inf_are_not_quantized():
    embeddings = np.ones((4, 8), dtype=np.float32)
    embeddings[2, 3] = np.nan
    for precision in ("int8", "ubinary"):
        with pytest.raises(ValueError, match=r"embeddings\[2\] contains NaN or inf"):
            quantize_embeddings(embeddings, precision)


def test_segment_names_stay_inside_the_store(tmp_path, scifact_1k):
    store = EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:50])
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["segments"][0]["name"] = "../../x"
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OSError, match="segment name '../../x' is not a number of six or more digits"):
        EmbeddingStore.open(store.path)


@pytest.fixture()
def small_store(tmp_path, scifact_1k) -> EmbeddingStore:
    store = EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:100], texts=scifact_1k.doc_texts[:100])
    store.add(scifact_1k.docs[100:200], texts=scifact_1k.doc_texts[100:200])
    return store


def test_a_truncated_file_is_named_at_open_and_in_the_cli(small_store, capsys):
    path = small_store.path / "000001.float32.npy"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(OSError, match=r"000001\.float32\.npy has 1000 bytes"):
        EmbeddingStore.open(small_store.path)
    assert main(["search", "--store", str(small_store.path), "a query"]) == 2
    assert "000001.float32.npy" in capsys.readouterr().err


def test_corrupted_bytes_are_found_by_verify(small_store, capsys):
    assert small_store.verify() == 10  # float32, ids, offsets, text hashes and texts, for each of 2 segments
    assert main(["verify", "--store", str(small_store.path)]) == 0
    path = small_store.path / "000000.float32.npy"
    data = bytearray(path.read_bytes())
    data[-4:] = np.float32(np.nan).tobytes()  # the last value of the last row becomes NaN, same size
    path.write_bytes(bytes(data))
    EmbeddingStore.open(small_store.path)  # sizes still match: open stays cheap
    with pytest.raises(OSError, match=r"000000\.float32\.npy"):
        EmbeddingStore.open(small_store.path).verify()
    capsys.readouterr()
    assert main(["verify", "--store", str(small_store.path)]) == 2
    assert "000000.float32.npy" in capsys.readouterr().err


def test_swapped_id_files_are_found_by_verify(small_store):
    first, second = small_store.path / "000000.ids.npy", small_store.path / "000001.ids.npy"
    first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_bytes)
    second.write_bytes(first_bytes)
    with pytest.raises(OSError, match=r"000000\.ids\.npy, .*000001\.ids\.npy"):
        EmbeddingStore.open(small_store.path).verify()


def test_a_segment_of_another_dimension_is_refused_at_open(small_store):
    from sentembed.common.files import file_digest, save_array

    path = small_store.path / "000001.float32.npy"
    save_array(path, np.zeros((100, 100), dtype=np.float32))
    manifest = json.loads((small_store.path / "manifest.json").read_text())
    manifest["segments"][1]["files"]["float32.npy"] = {"size": path.stat().st_size, "sha256": file_digest(path)}
    (small_store.path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(OSError, match=r"000001\.float32\.npy has shape \(100, 100\); this store holds 384-dim"):
        EmbeddingStore.open(small_store.path)


def test_a_failed_create_leaves_nothing_that_blocks_a_retry(tmp_path, scifact_1k):
    with pytest.raises(ValueError, match="appears more than once"):
        EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:3], ids=["a", "b", "a"])
    store = EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:3], ids=["a", "b", "c"])
    assert len(store) == 3


def test_a_store_built_from_a_relative_model_path_searches_from_another_folder(tmp_path, monkeypatch, sts_sentences):
    import shutil

    shutil.copytree(MINILM_L3, tmp_path / "models" / "l3", symlinks=True)
    monkeypatch.chdir(tmp_path)
    EmbeddingStore.build("store", "models/l3", sts_sentences[:20], show_progress_bar=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert EmbeddingStore.open(tmp_path / "store").search(sts_sentences[4], top_k=1)[0][0]["corpus_id"] == 4
    assert json.loads((tmp_path / "store" / "manifest.json").read_text())["model"] == str(tmp_path / "models" / "l3")


def test_a_version_1_store_still_opens_and_resumes(tmp_path, minilm_l3, sts_sentences):
    store = EmbeddingStore.build(tmp_path / "store", minilm_l3, sts_sentences[:10], show_progress_bar=False)
    manifest = json.loads((store.path / "manifest.json").read_text())
    manifest["version"] = 1
    for segment in manifest["segments"]:
        del segment["files"], segment["has_hashes"]
    (store.path / "manifest.json").write_text(json.dumps(manifest))
    resumed = EmbeddingStore.build(tmp_path / "store", minilm_l3, sts_sentences[:20], show_progress_bar=False)
    assert len(resumed) == 20
    with pytest.raises(ValueError, match="stored row 0 holds another text"):
        EmbeddingStore.build(tmp_path / "store", minilm_l3, sts_sentences[20:40], show_progress_bar=False)


def edit_manifest(store_path, change) -> None:
    """Apply `change` to the manifest's JSON data and write it back, as someone editing the file would."""
    manifest = json.loads((store_path / "manifest.json").read_text())
    change(manifest)
    (store_path / "manifest.json").write_text(json.dumps(manifest))


def replace_segment_file(store_path, segment: int, kind: str, array: np.ndarray) -> None:
    """Write `array` as a segment's file and record its new size and checksum, so that only its content is wrong."""
    from sentembed.common.files import file_digest, save_array

    path = store_path / f"{segment:06d}.{kind}"
    save_array(path, array)
    recorded = {"size": path.stat().st_size, "sha256": file_digest(path)}
    edit_manifest(store_path, lambda manifest: manifest["segments"][segment]["files"].update({kind: recorded}))


@pytest.mark.parametrize("name", ["000001.float32.npy", "000000.texts.jsonl", "manifest.json"])
def test_store_files_linked_out_of_the_store_are_refused(small_store, tmp_path, name):
    outside = tmp_path / "outside" / name
    outside.parent.mkdir()
    (small_store.path / name).rename(outside)
    (small_store.path / name).symlink_to(outside)
    with pytest.raises(OSError, match=rf"store file .*{re.escape(name)}.* leaves the folder"):
        EmbeddingStore.open(small_store.path)


def test_a_lock_file_linked_out_of_the_store_is_refused(small_store, tmp_path):
    target = tmp_path / "outside.lock"
    (small_store.path / ".lock").unlink()
    (small_store.path / ".lock").symlink_to(target)
    with pytest.raises(OSError, match=r"store file .*\.lock.* leaves the folder"):
        small_store.add(np.ones((1, 384), dtype=np.float32))
    assert not target.exists() and len(EmbeddingStore.open(small_store.path)) == 200


def test_manifest_precision_and_file_kinds_name_no_file_outside_the_store(small_store, tmp_path, monkeypatch):
    from sentembed.common.files import file_digest
    from sentembed.store import _segments as segments

    secret = tmp_path / "outside" / "secret"
    secret.parent.mkdir()
    secret.write_bytes(b"a file the store must never read")
    (small_store.path / "000000.x").mkdir()  # so that 000000.x/../../outside/secret resolves
    entry = {"size": secret.stat().st_size, "sha256": file_digest(secret)}
    hashed = []
    monkeypatch.setattr(segments, "file_digest", lambda path: hashed.append(path) or file_digest(path))
    edit_manifest(
        small_store.path, lambda manifest: manifest["segments"][0]["files"].update({"x/../../outside/secret": entry})
    )
    with pytest.raises(OSError, match=r"segment 000000: file kind 'x/../../outside/secret' is not one of"):
        EmbeddingStore.open(small_store.path).verify()
    edit_manifest(small_store.path, lambda manifest: manifest["segments"][0]["files"].pop("x/../../outside/secret"))
    edit_manifest(small_store.path, lambda manifest: manifest.update(precision="x/../../outside/secret"))
    with pytest.raises(OSError, match=r"manifest.json is damaged: precision 'x/../../outside/secret' is not one of"):
        EmbeddingStore.open(small_store.path).verify()
    assert hashed == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda m: m.update(precision="float16"),
            r"precision 'float16' is not one of \['float32', 'int8', 'ubinary'\]",
        ),
        (lambda m: m["segments"].append(m["segments"][1]), r"segment 000001 is listed twice"),
        (lambda m: m["segments"][0]["files"].update({"float32.npy": "abc"}), r"segment 000000: files\['float32.npy'\]"),
        (lambda m: m["segments"][0]["files"]["ids.npy"].pop("sha256"), r"segment 000000: files\['ids.npy'\]"),
        (lambda m: m["segments"][0]["files"].pop("texts.jsonl"), r"segment 000000: files lacks \['texts.jsonl'\]"),
        (lambda m: m["segments"][0].update(files=[]), r"segment 000000: files must be"),
        (lambda m: m.update(chunking="yes"), r"chunking 'yes' is not"),
        (lambda m: m.update(chunking={"chunk_tokens": -1, "overlap": 0}), r"chunking .* is not"),
        (lambda m: m.update(id_kind="float"), r"id_kind 'float' is not one of"),
        (lambda m: m.update(segments={}), r"segments must be a list"),
    ],
)
def test_a_malformed_manifest_is_named_at_open(small_store, change, message):
    edit_manifest(small_store.path, change)
    with pytest.raises(OSError, match=message):
        EmbeddingStore.open(small_store.path)


@pytest.mark.parametrize(
    ("kind", "array", "message"),
    [
        ("float32.npy", np.zeros((100, 384)), r"000001\.float32\.npy holds float64 values; a store keeps float32"),
        ("ids.npy", np.arange(100.0), r"000001\.ids\.npy holds float64 values; a store keeps int64"),
        ("offsets.npy", np.arange(50, dtype=np.int64), r"000001\.offsets\.npy holds 50 rows but the manifest says 100"),
        ("hashes.npy", np.zeros((100, 8), dtype=np.uint8), r"000001\.hashes\.npy has shape \(100, 8\)"),
    ],
)
def test_segment_files_of_the_wrong_type_or_length_are_named_at_open(small_store, kind, array, message, capsys):
    replace_segment_file(small_store.path, 1, kind, array)
    with pytest.raises(OSError, match=message):
        EmbeddingStore.open(small_store.path)
    assert main(["verify", "--store", str(small_store.path)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_repeated_ids_are_found_by_verify(small_store, capsys):
    replace_segment_file(small_store.path, 1, "ids.npy", np.arange(100, dtype=np.int64))
    message = r"id 0 appears in more than one row \(.*000000\.ids\.npy, .*000001\.ids\.npy\); ids must be unique"
    with pytest.raises(OSError, match=message):
        EmbeddingStore.open(small_store.path).verify()
    assert main(["verify", "--store", str(small_store.path)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_ids_beyond_int64_and_ids_with_nul_are_refused(tmp_path, scifact_1k, capsys):
    with pytest.raises(ValueError, match=r"ids\[1\] is 9223372036854775808; integer ids must fit in 64 bits"):
        EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:2], ids=[1, 2**63])
    with pytest.raises(ValueError, match=r"ids\[0\] is 'a\\x00'; string ids cannot hold NUL characters"):
        EmbeddingStore.create(tmp_path / "store", scifact_1k.docs[:2], ids=["a\x00", "b"])
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"id": 1, "text": "one"}\n{"id": 18446744073709551615, "text": "two"}\n')
    arguments = ["index", str(corpus), "--store", str(tmp_path / "cli"), "--model", str(MINILM_L3), "--no-progress"]
    assert main(arguments) == 2
    assert "ids[1] is 18446744073709551615; integer ids must fit in 64 bits" in capsys.readouterr().err


def test_damaged_chunk_records_are_named(minilm_l3, sts_sentences, tmp_path):
    store = EmbeddingStore.build(
        tmp_path / "store", minilm_l3, sts_sentences[:5], chunk_tokens=8, show_progress_bar=False
    )
    records = [json.loads(line) for line in (store.path / "000000.texts.jsonl").read_text().splitlines()]
    del records[2]["metadata"]["start"]
    from sentembed.common.files import file_digest, save_lines

    texts = store.path / "000000.texts.jsonl"
    offsets = save_lines(texts, records)
    replace_segment_file(store.path, 0, "offsets.npy", offsets)
    entry = {"size": texts.stat().st_size, "sha256": file_digest(texts)}
    edit_manifest(store.path, lambda manifest: manifest["segments"][0]["files"].update({"texts.jsonl": entry}))
    with pytest.raises(OSError, match=r"000000\.texts\.jsonl: row 2 is not a chunk record"):
        EmbeddingStore.open(store.path).search(sts_sentences[0])
