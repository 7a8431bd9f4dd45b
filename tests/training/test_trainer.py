"""SentenceTransformerTrainer, its data handling and the legacy fit API, on short real runs."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from sentembed.models import Normalize
from tests.support.data import read_sts
from tests.support.paths import MINILM_L3

datasets = pytest.importorskip("datasets")


def sts_rows(split: str, count: int, offset: int = 0) -> dict[str, list]:
    first, second, scores = read_sts(split)
    end = offset + count
    return {
        "sentence1": first[offset:end],
        "sentence2": second[offset:end],
        "score": [s / 5 for s in scores[offset:end]],
    }


@pytest.fixture
def fresh_l3():
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(MINILM_L3), device="cpu")


def args_for(tmp_path, **overrides):
    from sentembed import SentenceTransformerTrainingArguments

    settings = dict(
        output_dir=str(tmp_path),
        per_device_train_batch_size=8,
        learning_rate=1e-4,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=7,
    )
    return SentenceTransformerTrainingArguments(**{**settings, **overrides})


# ----- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("loss_name", "columns", "message"),
    [
        ("CoSENTLoss", {"a": ["x"], "b": ["y"], "c": ["z"], "score": [0.5]}, r"expects 2 text columns.*got.*'c'"),
        ("CoSENTLoss", {"a": ["x"], "b": ["y"]}, r"expects 2 text columns and a float label.*got columns \['a', 'b'\]"),
        ("MultipleNegativesRankingLoss", {"a": ["x"]}, r"at least 2 text columns.*got columns \['a'\]"),
        ("TripletLoss", {"a": ["x"], "b": ["y"], "label": [1]}, r"expects 3 text columns, no label"),
        ("CoSENTLoss", {"a": ["x"], "b": ["y"], "score": ["high"]}, r"holds string values.*float labels"),
        ("BatchHardTripletLoss", {"a": ["x"], "label": [0.5]}, r"holds float values.*int labels"),
        ("ContrastiveLoss", {"a": ["x"], "b": ["y"], "label": [2]}, r"must hold 0 or 1"),
        ("CoSENTLoss", {"a": [1], "b": ["y"], "score": [0.5]}, r"column 'a'.*must hold text"),
        ("CoSENTLoss", {"a": [], "b": [], "score": []}, r"is empty"),
    ],
)
def test_datasets_that_do_not_fit_the_loss_are_refused(minilm_l3, loss_name, columns, message, tmp_path):
    import sentembed.losses as losses
    from sentembed import SentenceTransformerTrainer

    dataset = datasets.Dataset.from_dict(columns)
    with pytest.raises(ValueError, match=message):
        SentenceTransformerTrainer(
            model=minilm_l3, args=args_for(tmp_path), train_dataset=dataset, loss=getattr(losses, loss_name)(minilm_l3)
        )


def test_dict_of_losses_must_cover_every_dataset(minilm_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss

    train = datasets.DatasetDict({"sts": datasets.Dataset.from_dict(sts_rows("train", 4))})
    with pytest.raises(ValueError, match=r"Currently, \[.sts.\] occurs in `train_dataset` but not in `loss`"):
        SentenceTransformerTrainer(
            model=minilm_l3, args=args_for(tmp_path), train_dataset=train, loss={"other": CoSENTLoss(minilm_l3)}
        )


def test_a_dict_of_losses_needs_dicts_of_datasets_and_no_streamed_one(minilm_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss

    single = datasets.Dataset.from_dict(sts_rows("train", 4))
    losses = {"sts": CoSENTLoss(minilm_l3)}
    with pytest.raises(ValueError, match="the `train_dataset` must be a `DatasetDict`"):
        SentenceTransformerTrainer(model=minilm_l3, args=args_for(tmp_path), train_dataset=single, loss=losses)
    with pytest.raises(ValueError, match="the `eval_dataset` must be a `DatasetDict`"):
        SentenceTransformerTrainer(
            model=minilm_l3, args=args_for(tmp_path), train_dataset={"sts": single}, eval_dataset=single, loss=losses
        )
    with pytest.raises(ValueError, match=r"Currently, \['extra'\] occur in `eval_dataset` but not in `loss`"):
        SentenceTransformerTrainer(
            model=minilm_l3,
            args=args_for(tmp_path),
            train_dataset={"sts": single},
            eval_dataset={"sts": single, "extra": single},
            loss=losses,
        )
    trainer = SentenceTransformerTrainer(model=minilm_l3, args=args_for(tmp_path), train_dataset=single)
    with pytest.raises(ValueError, match=r"invalid in your eval dataset: \['return_loss'\]"):
        trainer.evaluate(eval_dataset=single.rename_column("sentence1", "return_loss"))
    streamed = {"sts": single.to_iterable_dataset(), "more": single}
    with pytest.raises(ValueError, match="not compatible with a DatasetDict containing an IterableDataset"):
        SentenceTransformerTrainer(model=minilm_l3, args=args_for(tmp_path), train_dataset=streamed)


def test_reserved_column_names_and_evaluation_without_data_are_refused(minilm_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer

    rows = datasets.Dataset.from_dict(sts_rows("train", 4))
    for column in ("return_loss", "dataset_name"):
        renamed = rows.rename_column("sentence1", column)
        with pytest.raises(ValueError, match=rf"invalid in your train dataset: \['{column}'\]"):
            SentenceTransformerTrainer(model=minilm_l3, args=args_for(tmp_path), train_dataset=renamed)
        with pytest.raises(ValueError, match=rf"invalid in your sts dataset: \['{column}'\]"):
            SentenceTransformerTrainer(model=minilm_l3, args=args_for(tmp_path), train_dataset={"sts": renamed})
    with pytest.raises(ValueError, match="didn't provide an `eval_dataset` or an `evaluator`"):
        SentenceTransformerTrainer(
            model=minilm_l3, args=args_for(tmp_path, eval_strategy="steps", eval_steps=1), train_dataset=rows
        )


def test_unknown_batch_sampler_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no_duplicates"):
        args_for(tmp_path, batch_sampler="no_dupes")


def test_training_arguments_parse_from_a_command_line(tmp_path):
    from transformers import HfArgumentParser

    from sentembed import SentenceTransformerTrainingArguments
    from sentembed.training_args import BatchSamplers

    parser = HfArgumentParser((SentenceTransformerTrainingArguments,))
    (args,) = parser.parse_args_into_dataclasses(
        args=[
            "--output_dir", str(tmp_path),
            "--prompts", '{"anchor": "query: ", "positive": "passage: "}',
            "--batch_sampler", "no_duplicates_hashed",
            "--multi_dataset_batch_sampler", "round_robin",
            "--router_mapping", '{"nli": {"anchor": "query", "positive": "document"}}',
            "--learning_rate_mapping", '{"pooler": 0.001}',
            "--learning_rate", "3e-5",
        ]
    )  # fmt: skip
    assert args.prompts == {"anchor": "query: ", "positive": "passage: "}
    assert args.batch_sampler == BatchSamplers.NO_DUPLICATES_HASHED
    assert args.multi_dataset_batch_sampler == "round_robin"
    assert args.router_mapping == {"nli": {"anchor": "query", "positive": "document"}}
    assert args.learning_rate_mapping == {"pooler": 0.001} and args.learning_rate == 3e-5
    (plain,) = parser.parse_args_into_dataclasses(args=["--output_dir", str(tmp_path), "--prompts", "query: "])
    assert plain.prompts == "query: "
    with pytest.raises(ValueError, match="router_mapping must be a dict or a JSON object string"):
        parser.parse_args_into_dataclasses(args=["--output_dir", str(tmp_path), "--router_mapping", "not json"])


@pytest.mark.parametrize(
    ("start_method", "options", "warned"),
    [
        ("spawn", {"dataloader_num_workers": 2}, True),
        ("spawn", {"dataloader_num_workers": 2, "dataloader_persistent_workers": True}, False),
        ("spawn", {"dataloader_num_workers": 0}, False),
        ("fork", {"dataloader_num_workers": 2}, False),
    ],
)
def test_spawned_workers_that_restart_each_epoch_are_warned_about(
    tmp_path, monkeypatch, caplog, start_method, options, warned
):
    import multiprocessing

    from sentembed import SentenceTransformerTrainingArguments

    asked = []

    def current_method(allow_none=False):
        asked.append(allow_none)
        return None  # not fixed yet: the platform default decides, and must stay unfixed

    monkeypatch.setattr(multiprocessing, "get_start_method", current_method)
    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: [start_method, "spawn"])
    SentenceTransformerTrainingArguments(output_dir=str(tmp_path), report_to="none", **options)
    assert ("dataloader_persistent_workers=True" in caplog.text) is warned
    assert all(asked)


def test_no_duplicates_hashed_batches_as_no_duplicates(minilm_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import MultipleNegativesRankingLoss
    from sentembed.sampler import NoDuplicatesBatchSampler

    rows = sts_rows("train", 16)
    train = datasets.Dataset.from_dict({"anchor": rows["sentence1"], "positive": rows["sentence2"]})
    trainer = SentenceTransformerTrainer(
        model=minilm_l3,
        args=args_for(tmp_path, batch_sampler="no_duplicates_hashed"),
        train_dataset=train,
        loss=MultipleNegativesRankingLoss(minilm_l3),
    )
    assert trainer.data_collator.valid_label_columns == ("label", "score")
    sampler = trainer.get_batch_sampler(
        train, batch_size=4, drop_last=False, valid_label_columns=trainer.data_collator.valid_label_columns, seed=3
    )
    assert isinstance(sampler, NoDuplicatesBatchSampler)
    assert list(sampler) == list(NoDuplicatesBatchSampler(train, 4, False, seed=3))


# ----- batching -----------------------------------------------------------------------------------------


def test_collator_applies_prompts_per_dataset_and_column(minilm_l3):
    from sentembed.training._data import SentenceCollator, unpack_batch

    prompts = {"queries": {"anchor": "query: "}, "anchor": "search: "}
    collator = SentenceCollator(minilm_l3.preprocess, prompts, minilm_l3.prompt_length)
    rows = [{"dataset_name": "queries", "anchor": "cats", "positive": "dogs"}]
    batch = collator(rows)
    # transformers reads the batch size from the first value: a tensor, with the dataset's name last
    assert isinstance(next(iter(batch.values())), torch.Tensor) and list(batch)[-1] == "dataset_name"
    features, labels = unpack_batch(batch)
    decoded = minilm_l3.tokenizer.decode(features[0]["input_ids"][0], skip_special_tokens=True)
    assert decoded == "query : cats" and features[0]["prompt_length"] == 3
    assert "prompt_length" not in features[1] and labels is None
    features, _ = unpack_batch(collator([{"anchor": "cats", "positive": "dogs"}]))
    assert minilm_l3.tokenizer.decode(features[0]["input_ids"][0], skip_special_tokens=True) == "search : cats"


# ----- training runs ------------------------------------------------------------------------------------


def test_checkpoints_resume_to_the_same_weights(fresh_l3, tmp_path):
    from sentembed import SentenceTransformer, SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss

    train = datasets.Dataset.from_dict(sts_rows("train", 32))
    args = args_for(tmp_path / "run", max_steps=4, save_strategy="steps", save_steps=2)
    SentenceTransformerTrainer(model=fresh_l3, args=args, train_dataset=train, loss=CoSENTLoss(fresh_l3)).train()
    probe = ["A man is playing a flute.", "Two dogs run in the snow."]
    expected = fresh_l3.encode(probe)
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert (checkpoint / "modules.json").exists() and (checkpoint / "optimizer.pt").exists()

    resumed = SentenceTransformer(str(MINILM_L3), device="cpu")
    args = args_for(tmp_path / "run", max_steps=4, save_strategy="no")
    trainer = SentenceTransformerTrainer(model=resumed, args=args, train_dataset=train, loss=CoSENTLoss(resumed))
    trainer.train(resume_from_checkpoint=str(checkpoint))
    np.testing.assert_allclose(resumed.encode(probe), expected, atol=1e-5)


def test_two_datasets_with_their_own_losses_and_an_evaluator(fresh_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.evaluation import EmbeddingSimilarityEvaluator
    from sentembed.losses import CoSENTLoss, MultipleNegativesRankingLoss

    pairs = sts_rows("train", 16)
    train = datasets.DatasetDict(
        {
            "scored": datasets.Dataset.from_dict(pairs),
            "pairs": datasets.Dataset.from_dict({"anchor": pairs["sentence1"], "positive": pairs["sentence2"]}),
        }
    )
    dev = sts_rows("dev", 40)
    evaluator = EmbeddingSimilarityEvaluator(dev["sentence1"], dev["sentence2"], dev["score"], name="dev")
    losses = {"scored": CoSENTLoss(fresh_l3), "pairs": MultipleNegativesRankingLoss(fresh_l3)}
    args = args_for(tmp_path, num_train_epochs=1, multi_dataset_batch_sampler="round_robin", eval_strategy="epoch")
    trainer = SentenceTransformerTrainer(
        model=fresh_l3, args=args, train_dataset=train, loss=losses, evaluator=evaluator
    )
    trainer.train()
    assert trainer.state.global_step == 4
    logged = [entry for entry in trainer.state.log_history if "eval_dev_spearman_cosine" in entry]
    assert logged and -1 <= logged[-1]["eval_dev_spearman_cosine"] <= 1
    trainer.save_model(str(tmp_path / "saved"))
    card = (tmp_path / "saved" / "README.md").read_text()
    scored = card.split("#### scored")[1].split("####")[0]
    assert "* Size: 16 training samples" in scored and "CoSENTLoss" in scored
    assert "MultipleNegativesRankingLoss" in card.split("#### pairs")[1] and "dev_spearman_cosine" in card


def test_softmax_loss_trains_its_classifier(fresh_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import SoftmaxLoss

    rows = sts_rows("train", 16)
    train = datasets.Dataset.from_dict({**rows, "score": [int(s > 0.5) for s in rows["score"]]}).rename_column(
        "score", "label"
    )
    loss = SoftmaxLoss(fresh_l3, 384, num_labels=2)
    before = loss.classifier.weight.detach().clone()
    SentenceTransformerTrainer(
        model=fresh_l3, args=args_for(tmp_path, max_steps=1), train_dataset=train, loss=loss
    ).train()
    assert not torch.equal(before, loss.classifier.weight)


def test_legacy_fit_with_input_examples(fresh_l3, tmp_path):
    from torch.utils.data import DataLoader

    from sentembed import InputExample, SentenceTransformer
    from sentembed.evaluation import EmbeddingSimilarityEvaluator
    from sentembed.losses import CosineSimilarityLoss, MultipleNegativesRankingLoss

    rows = sts_rows("train", 16)
    scored = [
        InputExample(texts=[a, b], label=s)
        for a, b, s in zip(rows["sentence1"], rows["sentence2"], rows["score"], strict=True)
    ]
    pairs = [InputExample(texts=[a, b]) for a, b in zip(rows["sentence1"], rows["sentence2"], strict=True)]
    dev = sts_rows("dev", 40)
    evaluator = EmbeddingSimilarityEvaluator(dev["sentence1"], dev["sentence2"], dev["score"], name="dev")
    calls = []
    fresh_l3.fit(
        train_objectives=[
            (DataLoader(scored, shuffle=True, batch_size=8), CosineSimilarityLoss(fresh_l3)),
            (DataLoader(pairs, shuffle=True, batch_size=8), MultipleNegativesRankingLoss(fresh_l3)),
        ],
        evaluator=evaluator,
        epochs=1,
        warmup_steps=1,
        output_path=str(tmp_path / "best"),
        callback=lambda score, epoch, steps: calls.append((score, epoch, steps)),
        show_progress_bar=False,
    )
    assert len(calls) == 1 and calls[0][2] == 4
    saved = SentenceTransformer(str(tmp_path / "best"), device="cpu")
    np.testing.assert_allclose(saved.encode(dev["sentence1"][:4]), fresh_l3.encode(dev["sentence1"][:4]), atol=1e-5)


class PlainCosineLoss(torch.nn.Module):
    """A loss written the reference's way: a plain nn.Module with forward(features, labels), no `columns`.
    It records the batch sizes it trains on."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.batch_sizes = []

    def forward(self, features, labels):
        first, second = (self.model(feature)["sentence_embedding"] for feature in features)
        self.batch_sizes.append(len(labels))
        scores = torch.nn.functional.cosine_similarity(first, second)
        return torch.nn.functional.mse_loss(scores, labels.float())


class RecordingMNRL(torch.nn.Module):
    """MultipleNegativesRankingLoss, recording the batch sizes it sees."""

    def __init__(self, model):
        super().__init__()
        from sentembed.losses import MultipleNegativesRankingLoss

        self.inner = MultipleNegativesRankingLoss(model)
        self.columns = self.inner.columns
        self.batch_sizes = []

    def forward(self, features, labels):
        self.batch_sizes.append(len(features[0]["input_ids"]))
        return self.inner(features, labels)


def test_legacy_fit_keeps_each_loaders_batch_size_and_takes_a_plain_module_loss(fresh_l3, caplog):
    from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

    from sentembed import InputExample

    rows = sts_rows("train", 24)
    scored = [
        InputExample(texts=[a, b], label=s)
        for a, b, s in zip(rows["sentence1"], rows["sentence2"], rows["score"], strict=True)
    ]
    pairs = [InputExample(texts=[a, b]) for a, b in zip(rows["sentence1"], rows["sentence2"], strict=True)]
    plain, ranking = PlainCosineLoss(fresh_l3), RecordingMNRL(fresh_l3)
    own_sampler = DataLoader(pairs, batch_sampler=BatchSampler(SequentialSampler(pairs), batch_size=6, drop_last=False))
    before = fresh_l3[0].auto_model.embeddings.word_embeddings.weight.detach().clone()
    fresh_l3.fit(
        train_objectives=[(DataLoader(scored, shuffle=True, batch_size=4), plain), (own_sampler, ranking)],
        epochs=1,
        warmup_steps=0,
        show_progress_bar=False,
    )
    assert set(plain.batch_sizes) == {4} and set(ranking.batch_sizes) == {6}
    assert len(plain.batch_sizes) == len(ranking.batch_sizes) == 4  # round robin until the 6-row loader runs out
    assert "train_objectives[1] uses its own batch_sampler" in caplog.text
    assert not torch.equal(before, fresh_l3[0].auto_model.embeddings.word_embeddings.weight)


def test_legacy_fit_refuses_what_is_not_input_examples(minilm_l3):
    from torch.utils.data import DataLoader

    from sentembed.losses import CoSENTLoss

    with pytest.raises(TypeError, match="item 0 is a tuple, expected an InputExample"):
        minilm_l3.fit(train_objectives=[(DataLoader([("a", "b")], batch_size=1), CoSENTLoss(minilm_l3))])
    with pytest.raises(ValueError, match="non-empty list"):
        minilm_l3.fit(train_objectives=[])
    with pytest.raises(TypeError, match="list of str"):
        from sentembed import InputExample

        InputExample(texts="just one string")


def test_warmup_ratio_is_accepted_as_in_the_reference(tmp_path, caplog):
    from sentembed import SentenceTransformerTrainingArguments

    with caplog.at_level("WARNING", logger="sentembed"):
        args = SentenceTransformerTrainingArguments(output_dir=str(tmp_path), warmup_ratio=0.1, report_to="none")
    assert (args.warmup_steps, args.warmup_ratio) == (0.1, None)  # transformers 5 reads a fraction of steps
    assert "The `warmup_ratio` argument is deprecated in transformers 5" in caplog.text
    assert args.get_warmup_steps(200) == 20
    with pytest.raises(ValueError, match="not both"):
        SentenceTransformerTrainingArguments(
            output_dir=str(tmp_path), warmup_ratio=0.1, warmup_steps=5, report_to="none"
        )
    with pytest.raises(ValueError, match="warmup_ratio"):
        SentenceTransformerTrainingArguments(output_dir=str(tmp_path), warmup_ratio=1.5, report_to="none")


def test_a_streamed_dataset_without_features_is_refused_with_features_to_paste(minilm_l3, tmp_path):
    from datasets import Dataset, Features, List, Value

    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CosineSimilarityLoss

    rows = {"sentence1": ["a cat", "a dog"], "sentence2": ["a kitten", "a puppy"], "score": [0.9, 0.8]}
    streamed = Dataset.from_dict(rows).to_iterable_dataset().map(lambda batch: batch, batched=True)
    assert streamed.column_names is None  # map() without features= forgets the columns
    with pytest.raises(ValueError, match="must have Features") as raised:
        SentenceTransformerTrainer(
            model=minilm_l3, args=args_for(tmp_path), train_dataset=streamed, loss=CosineSimilarityLoss(minilm_l3)
        )
    hint = str(raised.value).split("dataset.cast(Features(")[1].split(")) or")[0]
    assert hint == "{'sentence1': Value('string'), 'sentence2': Value('string'), 'score': Value('float32')}"
    declared = streamed.cast(Features(eval(hint, {"Value": Value, "List": List})))  # the hint is valid code
    SentenceTransformerTrainer(
        model=minilm_l3,
        args=args_for(tmp_path, max_steps=1),
        train_dataset=declared,
        loss=CosineSimilarityLoss(minilm_l3),
    )


def test_the_features_hint_writes_lists_of_numbers_as_lists():
    from sentembed.training._columns import features_hint

    rows = [{"query": "q", "scores": [1.0, 0.5], "ids": [[1, 2]], "ok": True}]
    assert features_hint(rows) == (
        "{'query': Value('string'), 'scores': List(Value('float32')), 'ids': List(List(Value('int64'))), "
        "'ok': Value('bool')}"
    )
    assert features_hint([]) == "{...}"


# ----- checkpoints: custom module classes, pushing the model folder ------------------------------------------


class CustomNormalize(Normalize):
    """A user's own module class (here a subclass of a known one): it loads only as a trusted class."""


def test_a_checkpoint_with_a_custom_module_class_reloads_without_trust_remote_code(random_static, tmp_path):
    from sentembed import SentenceTransformer, SentenceTransformerTrainer

    model = SentenceTransformer(modules=[random_static[0], CustomNormalize()], device="cpu")
    trainer = SentenceTransformerTrainer(model=model, args=args_for(tmp_path / "run"))
    checkpoint = tmp_path / "run" / "checkpoint-1"
    trainer.save_model(str(checkpoint))
    assert json.loads((checkpoint / "modules.json").read_text())[1]["type"] == f"{__name__}.CustomNormalize"
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(checkpoint), device="cpu")  # outside the trainer the class is refused

    weights = model[0].embedding.weight
    saved = weights.detach().clone()
    with torch.no_grad():
        weights.zero_()
    trainer.load_weights_from_folder(str(checkpoint), model)
    torch.testing.assert_close(weights.detach(), saved)
    assert model.trust_remote_code is False


def test_pushing_a_checkpoint_copies_the_model_folder_without_the_training_state(random_static, tmp_path, monkeypatch):
    from transformers import Trainer

    from sentembed import SentenceTransformerTrainer

    output_dir = tmp_path / "run"
    trainer = SentenceTransformerTrainer(model=random_static, args=args_for(output_dir))
    checkpoint = output_dir / "checkpoint-3"
    trainer.save_model(str(checkpoint))
    model_files = set(os.listdir(checkpoint))
    training_state = {"optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth", "trainer_state.json"}
    for name in training_state:
        (checkpoint / name).write_text("state")
    (checkpoint / "global_step3").mkdir()
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = {"metadata": {}, "weight_map": {"a": shards[0], "b": shards[1]}}
    (checkpoint / "model.safetensors.index.json").write_text(json.dumps(index))
    for shard in shards:
        (checkpoint / shard).write_text("shard")
    uploaded = []
    monkeypatch.setattr(Trainer, "_push_from_checkpoint", lambda self, folder: uploaded.append(os.listdir(output_dir)))

    trainer._push_from_checkpoint(str(checkpoint))
    (contents,) = uploaded
    assert {"modules.json", "config_sentence_transformers.json", "README.md"} <= model_files <= set(contents)
    assert not (training_state | {"global_step3", *shards}) & set(contents)  # shards: transformers copies those
    assert (output_dir / "0_StaticEmbedding" / "tokenizer.json").exists()

    trainer.args.hub_strategy = "end"  # the checkpoint is not pushed, so nothing is copied
    shutil.rmtree(output_dir / "0_StaticEmbedding")
    trainer._push_from_checkpoint(str(checkpoint))
    assert not (output_dir / "0_StaticEmbedding").exists()


def test_a_loss_returning_named_parts_trains_on_their_sum_and_logs_each_part(fresh_l3, tmp_path):
    from sentembed import SentenceTransformerTrainer
    from sentembed.losses import CoSENTLoss, CosineSimilarityLoss

    class TwoParts(torch.nn.Module):
        """A loss written the reference's way: a plain module that returns its named parts."""

        def __init__(self, model):
            super().__init__()
            self.model = model
            self.cosent, self.cosine = CoSENTLoss(model), CosineSimilarityLoss(model)

        def forward(self, features, labels):
            return {"cosent": self.cosent(features, labels), "cosine": self.cosine(features, labels)}

    train = datasets.Dataset.from_dict(sts_rows("train", 16))
    args = args_for(tmp_path, max_steps=2, logging_steps=1)
    trainer = SentenceTransformerTrainer(model=fresh_l3, args=args, train_dataset=train, loss=TwoParts(fresh_l3))
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 2
    for entry in logged:
        assert entry["loss"] == pytest.approx(entry["cosent"] + entry["cosine"], abs=1e-3)

    fresh_l3.train()
    part = torch.tensor(2.0, requires_grad=True) * 3
    trainer.track_loss_components({"part": part})
    trainer.track_loss_components({"part": part})
    total = trainer.accum_loss_components["train"]["part"]
    assert total.item() == 12.0 and not total.requires_grad  # summed without the graph
