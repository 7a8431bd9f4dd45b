"""A damaged model folder is an error that names the file and what was expected, never a raw exception from deep
inside (copies of paraphrase-MiniLM-L3-v2, each with one file damaged)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer

from sentembed import SentenceTransformer
from sentembed.models import StaticEmbedding
from tests.support.paths import MINILM_L3


def copy_model(target: Path) -> Path:
    shutil.copytree(MINILM_L3, target, ignore=shutil.ignore_patterns("model.safetensors"))
    (target / "model.safetensors").symlink_to(MINILM_L3 / "model.safetensors")
    return target


DAMAGE = {
    "max_seq_length -1": ("sentence_bert_config.json", '{"max_seq_length": -1}', ValueError, "max_seq_length"),
    "max_seq_length text": ("sentence_bert_config.json", '{"max_seq_length": "x"}', ValueError, "max_seq_length"),
    "do_lower_case text": ("sentence_bert_config.json", '{"do_lower_case": "yes"}', ValueError, "do_lower_case"),
    "settings as a list": ("sentence_bert_config.json", "[1]", OSError, "must hold a JSON object"),
    "model config as a list": ("config_sentence_transformers.json", "[1]", OSError, "must hold a JSON object"),
    "pooling config as a list": ("1_Pooling/config.json", "[1]", OSError, "must hold a JSON object"),
    "tokenizer.json damaged": ("tokenizer.json", '{"version": "1.0", "model": 5}', OSError, "tokenizer"),
    "tokenizer.json not JSON": ("tokenizer.json", "{{{", OSError, "tokenizer"),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_a_damaged_file_is_named(tmp_path, case):
    name, content, error, message = DAMAGE[case]
    folder = copy_model(tmp_path / "model")
    (folder / name).write_text(content)
    with pytest.raises(error, match=message) as raised:
        SentenceTransformer(str(folder), device="cpu")
    assert Path(name).name in str(raised.value) or name.split("/")[0] in str(raised.value)


def test_a_router_config_with_a_bad_route_key_is_named(tmp_path):
    from sentembed.models import Normalize, Pooling, Router, Transformer

    transformer = Transformer(str(MINILM_L3))
    router = Router.for_query_document([transformer], [transformer])
    model = SentenceTransformer(modules=[router, Pooling(384), Normalize()], device="cpu")
    model.save(str(tmp_path / "routed"))
    config_path = tmp_path / "routed" / "router_config.json"
    config = json.loads(config_path.read_text())
    config["parameters"]["route_mappings"] = {"('query', ": "query"}
    config_path.write_text(json.dumps(config))
    with pytest.raises(OSError, match=r"router_config\.json.*route mapping key"):
        SentenceTransformer(str(tmp_path / "routed"), device="cpu")


def test_a_pooling_dimension_that_does_not_fit_names_the_pooling_config(tmp_path):
    folder = copy_model(tmp_path / "model")
    config = json.loads((folder / "1_Pooling" / "config.json").read_text())
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({**config, "word_embedding_dimension": 100}))
    with pytest.raises(OSError, match=r"1_Pooling.*word_embedding_dimension 100.*Transformer.*384"):
        SentenceTransformer(str(folder), device="cpu")


@pytest.mark.parametrize("name", ["cosine-ish", 3])
def test_an_unknown_similarity_function_is_named(tmp_path, name):
    folder = copy_model(tmp_path / "model")
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"similarity_fn_name": name}))
    with pytest.raises(ValueError, match=rf"config_sentence_transformers\.json.*similarity_fn_name {name!r}"):
        SentenceTransformer(str(folder), device="cpu")


def static_folder(tmp_path: Path, rows: int | None = None) -> Path:
    """A static model (seeded random vectors) on paraphrase-MiniLM-L3-v2's tokenizer, saved; `rows` cuts its table."""
    tokenizer = Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json"))
    table = torch.randn(tokenizer.get_vocab_size(), 8, generator=torch.Generator().manual_seed(0))
    SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=table)], device="cpu").save(
        str(tmp_path / "static")
    )
    if rows is not None:
        path = tmp_path / "static" / "0_StaticEmbedding" / "model.safetensors"
        save_file({"embedding.weight": load_file(path)["embedding.weight"][:rows].contiguous()}, path)
    return tmp_path / "static"


def test_a_static_table_smaller_than_the_vocabulary_is_refused_at_load(tmp_path):
    with pytest.raises(OSError, match=r"model\.safetensors.*1000 rows.*token ids up to 30521"):
        SentenceTransformer(str(static_folder(tmp_path, rows=1000)), device="cpu")


def test_non_finite_static_vectors_are_refused_at_load(tmp_path):
    folder = static_folder(tmp_path)
    path = folder / "0_StaticEmbedding" / "model.safetensors"
    table = load_file(path)["embedding.weight"]
    table[5, 3] = float("nan")
    save_file({"embedding.weight": table}, path)
    with pytest.raises(OSError, match=r"model\.safetensors.*NaN or inf"):
        SentenceTransformer(str(folder), device="cpu")


@pytest.mark.parametrize("array", ["embeddings", "weights"])
def test_non_finite_model2vec_arrays_are_refused_at_load(tmp_path, array):
    tokenizer = Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json"))
    arrays = {
        "embeddings": torch.randn(tokenizer.get_vocab_size(), 8),
        "weights": torch.ones(tokenizer.get_vocab_size()),
    }
    arrays[array][7] = float("inf")
    folder = tmp_path / "model2vec"
    folder.mkdir()
    shutil.copy(MINILM_L3 / "tokenizer.json", folder / "tokenizer.json")
    save_file(arrays, folder / "model.safetensors")
    with pytest.raises(OSError, match=rf"model\.safetensors: '{array}' holds NaN or inf"):
        StaticEmbedding.from_model2vec(folder)


@pytest.mark.parametrize("name", ["wordembedding_config.json", "whitespacetokenizer_config.json"])
def test_a_word_embeddings_config_holding_a_json_list_is_named(tmp_path, name):
    from sentembed.models import WhitespaceTokenizer, WordEmbeddings

    tokenizer = WhitespaceTokenizer(["a", "cat"])
    WordEmbeddings(tokenizer, torch.zeros(2, 4)).save(str(tmp_path / "words"))
    (tmp_path / "words" / name).write_text("[1]")
    with pytest.raises(OSError, match=rf"{name.replace('.', '[.]')} must hold a JSON object"):
        WordEmbeddings.load(str(tmp_path / "words"))
