"""A damaged model folder is an error that names the file and what was expected, never a raw exception from deep
inside (copies of paraphrase-MiniLM-L3-v2, each with one file damaged)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sentembed import SentenceTransformer
from tests.conftest import MINILM_L3


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
