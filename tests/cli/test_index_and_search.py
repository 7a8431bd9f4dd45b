"""`sentembed index` and `sentembed search` on a small real corpus."""

from __future__ import annotations

import json

import pytest

from sentembed.cli.main import main
from sentembed.store import EmbeddingStore
from tests.support.paths import MINILM_L3


def test_index_then_search_a_text_file(tmp_path, sts_sentences, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sts_sentences[:40]) + "\n", encoding="utf-8")
    store = tmp_path / "store"
    assert main(["index", str(corpus), "--store", str(store), "--model", str(MINILM_L3), "--no-progress"]) == 0
    assert len(EmbeddingStore.open(store)) == 40
    capsys.readouterr()
    assert main(["search", "--store", str(store), sts_sentences[3], "-k", "2", "--json"]) == 0
    hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(hits) == 2
    assert hits[0]["corpus_id"] == 3 and hits[0]["text"] == sts_sentences[3]


def test_index_jsonl_with_ids_and_quantized_store(tmp_path, sts_sentences, capsys):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": f"doc-{i}", "text": text, "source": "sts"} for i, text in enumerate(sts_sentences[:30])]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    store = tmp_path / "store"
    arguments = ["index", str(corpus), "--store", str(store), "-m", str(MINILM_L3), "--precision", "ubinary"]
    assert main([*arguments, "--no-progress"]) == 0
    opened = EmbeddingStore.open(store)
    assert opened.precision == "ubinary" and opened.get_metadata(2) == {"source": "sts"}
    capsys.readouterr()
    assert main(["search", "--store", str(store), sts_sentences[7], "-k", "1"]) == 0
    assert "doc-7" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json\n", "not valid JSON"), ('{"title": "no text field"}\n', "string field 'text'")],
)
def test_index_reports_bad_jsonl(tmp_path, capsys, content, message):
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text(content, encoding="utf-8")
    assert main(["index", str(corpus), "--store", str(tmp_path / "s")]) == 2
    assert message in capsys.readouterr().err


def test_search_reports_a_missing_store(tmp_path, capsys):
    assert main(["search", "--store", str(tmp_path / "nowhere"), "query"]) == 2
    assert "not an embedding store" in capsys.readouterr().err


def test_index_with_lexical_and_hnsw_then_search_by_mode_and_filter(tmp_path, sts_sentences, capsys):
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": f"doc-{i}", "text": text, "group": i % 4} for i, text in enumerate(sts_sentences[:40])]
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    store = tmp_path / "store"
    arguments = ["index", str(corpus), "--store", str(store), "-m", str(MINILM_L3), "--lexical", "--index", "hnsw"]
    assert main([*arguments, "--no-progress"]) == 0
    manifest = EmbeddingStore.open(store).manifest
    assert manifest.lexical["rows"] == manifest.index["rows"] == 40
    for mode in ("dense", "lexical", "hybrid"):
        capsys.readouterr()
        search = ["search", "--store", str(store), sts_sentences[9], "-k", "3", "--json", "--mode", mode]
        assert main([*search, "--filter", '{"group": {"$in": [1, 2]}}']) == 0
        hits = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert hits[0]["corpus_id"] == "doc-9" and all(int(hit["corpus_id"][4:]) % 4 in (1, 2) for hit in hits)
    with pytest.raises(SystemExit):
        main(["search", "--store", str(store), "query", "--filter", "[1, 2]"])
    assert main(["search", "--store", str(store), "query", "--filter", '{"group": {"$near": 1}}']) == 2
    assert "unknown operator '$near'" in capsys.readouterr().err
