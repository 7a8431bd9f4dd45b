"""What a model folder cannot make us do: run its own code, or read files outside itself.

The attacks are built on copies of ../shared's real models: a config.json whose `auto_map` points to a
Python file in the folder that leaves a marker when it is imported, and settings that ask for remote code.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.cli.main import main
from sentembed.store import EmbeddingStore
from tests.support.paths import CROSS_ENCODER, MINILM_L3

EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("the folder's code ran")
from transformers import BertConfig, BertModel, BertForSequenceClassification
class EvilConfig(BertConfig):
    model_type = "bert"
class EvilModel(BertModel):
    config_class = EvilConfig
class EvilClassifier(BertForSequenceClassification):
    config_class = EvilConfig
"""


def copy_model(source: Path, target: Path) -> Path:
    """A copy of a model folder, its weights linked rather than copied."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("model.safetensors"))
    (target / "model.safetensors").symlink_to(source / "model.safetensors")
    return target


def plant_remote_code(folder: Path, marker: Path, head: str = "EvilModel") -> None:
    (folder / "evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {
        "AutoConfig": "evil.EvilConfig",
        "AutoModel": "evil.EvilModel",
        "AutoModelForSequenceClassification": "evil.EvilClassifier",
    }
    (folder / "config.json").write_text(json.dumps(config))


def update_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(changes)
    path.write_text(json.dumps(data))


ASKS_FOR_REMOTE_CODE = {
    "modules.json kwargs, config_kwargs": lambda f: _module_kwargs(f, {"config_kwargs": {"trust_remote_code": True}}),
    "modules.json kwargs, model_kwargs": lambda f: _module_kwargs(f, {"model_kwargs": {"trust_remote_code": True}}),
    "modules.json kwargs, top level": lambda f: _module_kwargs(f, {"trust_remote_code": True}),
    "sentence_bert_config model_args": lambda f: update_json(
        f / "sentence_bert_config.json", model_args={"trust_remote_code": True}
    ),
    "sentence_bert_config config_args": lambda f: update_json(
        f / "sentence_bert_config.json", config_args={"trust_remote_code": True}
    ),
    "sentence_bert_config tokenizer_args": lambda f: update_json(
        f / "sentence_bert_config.json", tokenizer_args={"trust_remote_code": True}
    ),
    "sentence_bert_config, all three": lambda f: update_json(
        f / "sentence_bert_config.json",
        model_args={"trust_remote_code": True},
        tokenizer_args={"trust_remote_code": True},
        config_args={"trust_remote_code": True},
    ),
}


def _module_kwargs(folder: Path, kwargs: dict) -> None:
    entries = json.loads((folder / "modules.json").read_text())
    entries[0]["kwargs"] = kwargs
    (folder / "modules.json").write_text(json.dumps(entries))


@pytest.fixture()
def evil_bi_encoder(tmp_path) -> tuple[Path, Path]:
    folder = copy_model(MINILM_L3, tmp_path / "evil-model")
    marker = tmp_path / "marker.txt"
    plant_remote_code(folder, marker)
    return folder, marker


def test_the_planted_code_does_run_when_the_caller_trusts_it(evil_bi_encoder):
    folder, marker = evil_bi_encoder
    SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)
    assert marker.exists(), "the attack folder is not a real attack: transformers never imported evil.py"


@pytest.mark.parametrize("attack", sorted(ASKS_FOR_REMOTE_CODE))
def test_a_model_folder_never_turns_on_remote_code(evil_bi_encoder, attack, tmp_path, capsys):
    folder, marker = evil_bi_encoder
    ASKS_FOR_REMOTE_CODE[attack](folder)
    model = SentenceTransformer(str(folder), device="cpu")
    assert model.encode("a sentence").shape == (384,)
    assert main(["encode", "--model", str(folder), "a sentence"]) == 0
    store = EmbeddingStore.create(tmp_path / "store", model.encode(["one", "two"]), model=str(folder))
    assert EmbeddingStore.open(store.path).search("one", top_k=1)[0][0]["corpus_id"] == 0
    assert not marker.exists(), f"{attack}: the folder's own code ran without trust_remote_code"


def test_a_cross_encoder_folder_never_turns_on_remote_code(tmp_path):
    folder = copy_model(CROSS_ENCODER, tmp_path / "evil-cross-encoder")
    marker = tmp_path / "marker.txt"
    plant_remote_code(folder, marker)
    update_json(folder / "sentence_bert_config.json", model_args={"trust_remote_code": True})
    CrossEncoder(str(folder), device="cpu", config_kwargs={}).predict([("a question", "an answer")])
    assert not marker.exists()


@pytest.mark.parametrize("path", ["../elsewhere", "/tmp", "sub/../../elsewhere", "link"])
def test_module_paths_stay_inside_the_model_folder(tmp_path, path):
    folder = copy_model(MINILM_L3, tmp_path / "model")
    shutil.copytree(MINILM_L3 / "1_Pooling", tmp_path / "elsewhere")
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    entries = json.loads((folder / "modules.json").read_text())
    entries[1]["path"] = path
    (folder / "modules.json").write_text(json.dumps(entries))
    with pytest.raises(OSError, match=r"leaves the folder"):
        SentenceTransformer(str(folder), device="cpu")


def test_a_modular_cross_encoder_path_stays_inside(tmp_path):
    folder = tmp_path / "modular"
    folder.mkdir()
    entries = [{"idx": 0, "name": "0", "path": "../outside", "type": "sentence_transformers.models.Transformer"}]
    (folder / "modules.json").write_text(json.dumps(entries))
    copy_model(CROSS_ENCODER, tmp_path / "outside")
    with pytest.raises(OSError, match=r"leaves the folder"):
        CrossEncoder(str(folder), device="cpu")


class LeavesAMarker:
    """Unpickling this object runs code: it writes the marker file (a real pickle attack)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('the pickle ran')",)


def plant_pickled_weights(folder: Path, marker: Path) -> None:
    """Replace the folder's safetensors by a `pytorch_model.bin` holding the real weights and a code-running object,
    and ask, from the folder's own settings, for the pickle to be loaded unrestricted."""
    weights = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save({**weights, "payload": LeavesAMarker(marker)}, folder / "pytorch_model.bin")
    update_json(folder / "sentence_bert_config.json", model_args={"weights_only": False, "use_safetensors": False})


def test_the_planted_pickle_does_run_when_unpickled(tmp_path):
    marker = tmp_path / "marker.txt"
    folder = copy_model(MINILM_L3, tmp_path / "model")
    plant_pickled_weights(folder, marker)
    torch.load(folder / "pytorch_model.bin", weights_only=False)
    assert marker.exists(), "the attack file is not a real attack: unpickling it leaves no marker"


@pytest.mark.parametrize("load", ["SentenceTransformer", "CrossEncoder", "cli"])
def test_folder_settings_never_unpickle_weights(tmp_path, load, capsys):
    marker = tmp_path / "marker.txt"
    folder = copy_model(CROSS_ENCODER if load == "CrossEncoder" else MINILM_L3, tmp_path / "model")
    plant_pickled_weights(folder, marker)
    if load == "cli":
        assert main(["encode", "--model", str(folder), "a sentence"]) != 0
        assert "pickle" in capsys.readouterr().err
    else:
        model_class = CrossEncoder if load == "CrossEncoder" else SentenceTransformer
        with pytest.raises(OSError, match=r"pytorch_model\.bin.*pickle"):
            model_class(str(folder), device="cpu")
    assert not marker.exists(), f"{load}: a folder's settings made us unpickle its weights"


def test_folder_settings_outside_the_allowlist_are_dropped_with_a_warning(tmp_path, caplog):
    folder = copy_model(MINILM_L3, tmp_path / "model")
    update_json(
        folder / "sentence_bert_config.json",
        model_args={"use_safetensors": False, "dtype": "float32", "attn_implementation": "kernels-community/x"},
        tokenizer_args={"vocab_file": "/etc/passwd", "model_max_length": 64},
        config_args={"revision": "other", "output_hidden_states": True},
    )
    with caplog.at_level("WARNING"):
        model = SentenceTransformer(str(folder), device="cpu")
    dropped = " ".join(record.getMessage() for record in caplog.records)
    for key in (
        "model_args['use_safetensors']",
        "model_args['attn_implementation']",
        "tokenizer_args['vocab_file']",
        "config_args['revision']",
    ):
        assert f"ignoring {key}" in dropped
    for kept in ("dtype", "model_max_length", "output_hidden_states"):
        assert f"['{kept}']" not in dropped
    assert model.tokenizer.model_max_length == 64
    assert model[0].auto_model.config.output_hidden_states is True


def test_the_callers_own_loading_options_stay_allowed(tmp_path):
    folder = copy_model(MINILM_L3, tmp_path / "model")
    model = SentenceTransformer(str(folder), device="cpu", model_kwargs={"use_safetensors": True})
    assert model.encode("a sentence").shape == (384,)


@pytest.mark.parametrize(
    "option", [{"subfolder": "../outside"}, {"subfolder": "/tmp"}, {"gguf_file": "../outside/model.gguf"}]
)
def test_a_folder_cannot_point_transformers_at_other_files(tmp_path, option, caplog):
    folder = copy_model(MINILM_L3, tmp_path / "model")
    copy_model(CROSS_ENCODER, tmp_path / "outside")
    update_json(folder / "sentence_bert_config.json", model_args=option)
    with caplog.at_level("WARNING"):
        model = SentenceTransformer(str(folder), device="cpu")
    assert f"ignoring model_args[{next(iter(option))!r}]" in caplog.text
    expected = SentenceTransformer(str(MINILM_L3), device="cpu").encode("a sentence")
    np.testing.assert_allclose(model.encode("a sentence"), expected, atol=1e-6)


@pytest.fixture()
def adapter_folder(tmp_path) -> Path:
    """A LoRA adapter saved on paraphrase-MiniLM-L3-v2 (its adapter_config.json names the base's absolute path)."""
    peft = pytest.importorskip("peft")
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    torch.manual_seed(0)
    model.add_adapter(peft.LoraConfig(r=4, target_modules=["query", "value"], init_lora_weights=False))
    model.save(str(tmp_path / "adapter"))
    return tmp_path / "adapter"


def adapted_by_the_caller(folder: Path) -> np.ndarray:
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    model.load_adapter(str(folder))
    return model.encode("a sentence")


def set_adapter_base(folder: Path, base: str) -> None:
    update_json(folder / "adapter_config.json", base_model_name_or_path=base)


@pytest.mark.parametrize("base", ["absolute", "../base", "base in the working folder", "link"])
def test_an_adapters_base_outside_its_folder_is_not_followed(adapter_folder, tmp_path, monkeypatch, base):
    shutil.copytree(MINILM_L3, tmp_path / "base")
    (adapter_folder / "link").symlink_to(tmp_path / "base")
    monkeypatch.chdir(tmp_path)
    named = {"absolute": str(MINILM_L3), "base in the working folder": "base"}.get(base, base)
    set_adapter_base(adapter_folder, named)
    with pytest.raises(OSError, match=r"adapter_config\.json.*base_model_name_or_path.*(outside|leaves)"):
        SentenceTransformer(str(adapter_folder), device="cpu")
    assert adapted_by_the_caller(adapter_folder).shape == (384,)


def test_an_adapters_base_inside_its_folder_loads(adapter_folder):
    copy_model(MINILM_L3, adapter_folder / "base")
    set_adapter_base(adapter_folder, "base")
    loaded = SentenceTransformer(str(adapter_folder), device="cpu").encode("a sentence")
    np.testing.assert_allclose(loaded, adapted_by_the_caller(adapter_folder), atol=1e-6)


def load_in_a_subprocess(folder: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Load a model folder in a child process, so that a load that hangs fails the test instead of hanging it."""
    code = "import sys; from sentembed import SentenceTransformer; SentenceTransformer(sys.argv[1], device='cpu')"
    try:
        return subprocess.run(
            [sys.executable, "-c", code, str(folder)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {folder} hung for {timeout} s")


HANGS_RE = "(.*.*)*z"  # Python's re (which peft uses) backtracks exponentially on a module name without a "z"
HANGS_ANY = r"((.|..)*)*[!]?\d{3}"  # backtracks without end in every engine


@pytest.mark.parametrize(
    ("setting", "outcome"),
    [
        ({"target_modules": HANGS_RE}, "OSError: .*target_modules pattern .* selects no module"),  # selects no module
        ({"target_modules": HANGS_ANY}, "OSError: .*target_modules pattern .* took over"),
        ({"exclude_modules": HANGS_RE}, None),  # excludes nothing: the adapter loads
        ({"rank_pattern": {HANGS_ANY: 2}}, "OSError: .*rank_pattern pattern .* took over"),
        ({"modules_to_save": [HANGS_RE]}, "OSError: .*modules_to_save must list plain module names"),
    ],
)
def test_an_adapter_pattern_cannot_hang_loading(adapter_folder, setting, outcome):
    copy_model(MINILM_L3, adapter_folder / "base")
    update_json(adapter_folder / "adapter_config.json", base_model_name_or_path="base", **setting)
    started = time.monotonic()
    result = load_in_a_subprocess(adapter_folder)
    assert time.monotonic() - started < 60
    if outcome is None:
        assert result.returncode == 0, result.stderr[-2000:]
    else:
        assert result.returncode != 0 and re.search(outcome, result.stderr.splitlines()[-1]), result.stderr[-2000:]


def test_a_regex_target_modules_selects_what_peft_selects(adapter_folder):
    copy_model(MINILM_L3, adapter_folder / "base")
    update_json(
        adapter_folder / "adapter_config.json", base_model_name_or_path="base", target_modules=r".*\.(query|value)"
    )
    loaded = SentenceTransformer(str(adapter_folder), device="cpu")
    assert len(loaded.get_adapter_state_dict()) == 12  # lora_A and lora_B on query and value of 3 layers
    np.testing.assert_allclose(loaded.encode("a sentence"), adapted_by_the_caller(adapter_folder), atol=1e-6)


def test_a_pickled_adapter_is_refused_by_name(adapter_folder, tmp_path):
    marker = tmp_path / "marker.txt"
    weights = load_file(adapter_folder / "adapter_model.safetensors")
    (adapter_folder / "adapter_model.safetensors").unlink()
    torch.save({**weights, "payload": LeavesAMarker(marker)}, adapter_folder / "adapter_model.bin")
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    with pytest.raises(OSError, match=r"adapter_model\.bin holds pickled objects other than tensors"):
        model.load_adapter(str(adapter_folder))
    assert not marker.exists()
