"""Batch samplers: the reference's classes and constructors, the properties each promises, and their use in training."""

from __future__ import annotations

import inspect
import warnings

import pytest
import torch

from tests.support.data import read_sts

datasets = pytest.importorskip("datasets")

from sentembed.training import samplers  # noqa: E402

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sentence_transformers import sampler as reference_samplers

SAMPLER_NAMES = [
    "DefaultBatchSampler",
    "NoDuplicatesBatchSampler",
    "GroupByLabelBatchSampler",
    "RoundRobinBatchSampler",
    "ProportionalBatchSampler",
    "SubsetRandomSampler",
]


@pytest.mark.parametrize("name", SAMPLER_NAMES)
def test_constructors_match_the_reference(name):
    ours = inspect.signature(getattr(samplers, name).__init__).parameters
    theirs = inspect.signature(getattr(reference_samplers, name).__init__).parameters
    assert list(ours) == list(theirs)
    assert [parameter.default for parameter in ours.values()] == [parameter.default for parameter in theirs.values()]


def test_sampler_import_paths():
    from sentembed.sampler import NoDuplicatesBatchSampler
    from sentembed.training_args import BatchSamplers, SentenceTransformerTrainingArguments

    assert NoDuplicatesBatchSampler is samplers.NoDuplicatesBatchSampler
    assert BatchSamplers.NO_DUPLICATES == "no_duplicates"
    assert SentenceTransformerTrainingArguments.__name__ == "SentenceTransformerTrainingArguments"


def pairs(count: int) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"anchor": [f"q{i % 5}" for i in range(count)], "positive": [f"d{i}" for i in range(count)]}
    )


def test_no_duplicates_never_repeats_a_text_in_a_batch_and_reshuffles():
    dataset = pairs(40)
    sampler = samplers.NoDuplicatesBatchSampler(dataset, batch_size=4, drop_last=False, seed=1)
    batches = list(sampler)
    assert sorted(index for batch in batches for index in batch) == list(range(40))
    for batch in batches:
        texts = [dataset[index][column] for index in batch for column in ("anchor", "positive")]
        assert len(texts) == len(set(texts))
    assert batches != list(sampler), "a second pass without set_epoch must draw a new order"


def test_no_duplicates_ignores_label_columns():
    dataset = pairs(10).add_column("label", [1.0] * 10)
    batches = list(samplers.NoDuplicatesBatchSampler(dataset, batch_size=5, drop_last=False))
    assert max(len(batch) for batch in batches) == 5


def test_set_epoch_gives_each_epoch_its_own_order_and_repeats_it():
    sampler = samplers.DefaultBatchSampler(pairs(30), batch_size=4, drop_last=True, seed=3)
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(2)
    second = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) == first != second
    assert len(first) == len(sampler) == 7
    assert all(len(batch) == 4 for batch in first)


def test_group_by_label_gives_every_row_a_positive():
    labels = [i % 6 for i in range(60)]
    dataset = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(60)], "label": labels})
    sampler = samplers.GroupByLabelBatchSampler(dataset, batch_size=8, drop_last=False)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        batch_labels = [labels[i] for i in batch]
        assert all(batch_labels.count(label) >= 2 for label in batch_labels)


def test_group_by_label_names_the_missing_label_column():
    with pytest.raises(ValueError, match="label columns"):
        samplers.GroupByLabelBatchSampler(pairs(8), batch_size=4, drop_last=False)


def test_multi_dataset_samplers_keep_each_batch_within_one_dataset():
    small, large = pairs(8), pairs(20)
    concatenated = torch.utils.data.ConcatDataset([small, large])
    per_dataset = [samplers.DefaultBatchSampler(dataset, 4, drop_last=False) for dataset in (small, large)]
    round_robin = list(samplers.RoundRobinBatchSampler(concatenated, per_dataset))
    assert [batch[0] >= 8 for batch in round_robin] == [False, True, False, True]
    proportional = list(samplers.ProportionalBatchSampler(concatenated, per_dataset, seed=5))
    assert sorted(index for batch in proportional for index in batch) == list(range(28))
    assert all(len({index >= 8 for index in batch}) == 1 for batch in proportional)


def test_multi_dataset_sampler_refuses_a_mismatched_dataset():
    with pytest.raises(ValueError, match="2 batch samplers"):
        samplers.RoundRobinBatchSampler(pairs(8), [samplers.DefaultBatchSampler(pairs(8), 4, False)] * 2)


def test_a_callable_batch_sampler_is_used_by_the_trainer(tmp_path, minilm_l3):
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import MultipleNegativesRankingLoss

    built = []

    def in_order(dataset, batch_size, drop_last, valid_label_columns=None, generator=None, seed=0):
        built.append((len(dataset), batch_size, valid_label_columns))
        indices = list(range(len(dataset)))
        return [indices[start : start + batch_size] for start in range(0, len(dataset), batch_size)]

    first, second, _ = read_sts("train")
    train = datasets.Dataset.from_dict({"anchor": first[:16], "positive": second[:16]})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, max_steps=1, report_to=[], batch_sampler=in_order
    )
    trainer = SentenceTransformerTrainer(
        model=minilm_l3, args=args, train_dataset=train, loss=MultipleNegativesRankingLoss(minilm_l3)
    )
    loader = trainer.get_train_dataloader()
    assert built == [(16, 8, ["label", "score"])]
    assert len(loader) == 2
    assert "in_order" in args.to_json_string()


def test_a_streamed_dataset_trains_in_order_and_is_checked_by_its_columns(tmp_path):
    from sentembed import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import CoSENTLoss, MultipleNegativesRankingLoss
    from tests.support.paths import MINILM_L3

    first, second, _ = read_sts("train")
    streamed = datasets.Dataset.from_dict({"anchor": first[:48], "positive": second[:48]}).to_iterable_dataset()
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    before = model.encode(first[:4])
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=16, max_steps=3, report_to=[], save_strategy="no"
    )
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=streamed, loss=MultipleNegativesRankingLoss(model)
    )
    assert trainer.train().global_step == 3
    assert abs(model.encode(first[:4]) - before).max() > 1e-4, "training on the stream must change the model"
    trainer.save_model(str(tmp_path / "out"))
    assert "streamed" in (tmp_path / "out" / "README.md").read_text()
    with pytest.raises(ValueError, match="CoSENTLoss expects"):
        SentenceTransformerTrainer(model=model, args=args, train_dataset=streamed, loss=CoSENTLoss(model))


def test_no_duplicates_first_order_depends_on_the_seed_alone():
    dataset = pairs(30)
    unseeded = torch.Generator()
    unseeded.seed()
    first = list(samplers.NoDuplicatesBatchSampler(dataset, 4, False, generator=unseeded, seed=7))
    assert first == list(samplers.NoDuplicatesBatchSampler(dataset, 4, False, seed=7))
    assert first != list(samplers.NoDuplicatesBatchSampler(dataset, 4, False, seed=8))


def test_no_duplicates_keeps_skipped_rows_first_and_drops_every_unfilled_batch():
    # rows 0..5 share the anchor "a"; rows 6..9 are all distinct
    dataset = datasets.Dataset.from_dict(
        {"anchor": ["a"] * 6 + [f"x{i}" for i in range(4)], "positive": [f"p{i}" for i in range(10)]}
    )
    kept = list(samplers.NoDuplicatesBatchSampler(dataset, 3, drop_last=False, seed=0))
    assert sorted(i for batch in kept for i in batch) == list(range(10))
    assert all(sum(i < 6 for i in batch) <= 1 for batch in kept)
    dropped = list(samplers.NoDuplicatesBatchSampler(dataset, 3, drop_last=True, seed=0))
    assert dropped and all(len(batch) == 3 for batch in dropped)
    assert [batch for batch in kept if len(batch) == 3] == dropped


def test_no_duplicates_compares_images_by_content():
    from PIL import Image

    colours = [Image.new("RGB", (3, 3), colour) for colour in ("red", "green", "blue")]
    dataset = datasets.Dataset.from_dict(
        {"query": [f"q{i}" for i in range(9)], "image": [colours[i % 3] for i in range(9)]}
    )
    batches = list(samplers.NoDuplicatesBatchSampler(dataset, 6, drop_last=False, seed=0))
    assert [len(batch) for batch in batches] == [3, 3, 3]


def test_dedup_key_treats_numpy_scalars_as_python_values_and_digests_objects():
    import numpy as np

    assert samplers.dedup_key(np.int64(5)) == samplers.dedup_key(5) == "5"
    assert samplers.dedup_key(["a", 1.5]) == str(["a", 1.5])
    long_a, long_b = np.arange(5000), np.arange(5000)
    long_b[2500] = -1
    assert str(long_a) == str(long_b) and samplers.dedup_key(long_a) != samplers.dedup_key(long_b)
    assert samplers.dedup_key(np.arange(5000)) == samplers.dedup_key(long_a)
    unpicklable = lambda: None  # noqa: E731
    assert samplers.dedup_key(unpicklable) == str(unpicklable)


@pytest.mark.parametrize("processes", [0, 2, None])
def test_no_duplicates_accepts_zero_or_more_precompute_processes(processes):
    options = {"precompute_hashes": True, "precompute_num_proc": processes}
    sampler = samplers.NoDuplicatesBatchSampler(pairs(8), 4, False, **options)
    assert sorted(i for batch in sampler for i in batch) == list(range(8))
    with pytest.raises(ValueError, match="precompute_num_proc must be a non-negative integer"):
        samplers.NoDuplicatesBatchSampler(pairs(8), 4, False, precompute_num_proc=-1)


def test_group_by_label_mixes_labels_when_one_dominates():
    labels = ["common"] * 80 + ["rare1"] * 6 + ["rare2"] * 5
    dataset = datasets.Dataset.from_dict({"text": [f"t{i}" for i in range(len(labels))], "label": labels})
    sampler = samplers.GroupByLabelBatchSampler(dataset, batch_size=6, drop_last=False, seed=2)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        batch_labels = [labels[i] for i in batch]
        assert len(set(batch_labels)) >= 2, "every batch has negatives"
        assert all(batch_labels.count(label) >= 2 for label in batch_labels), "every row has a positive"
    used = [labels[i] for batch in batches for i in batch]
    assert used.count("common") <= 6  # capped at the second-largest label's 3 pairs


def test_group_by_label_refuses_what_cannot_make_mixed_batches():
    one_label = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [1, 1, 2]})
    with pytest.raises(ValueError, match="at least 2 labels"):
        samplers.GroupByLabelBatchSampler(one_label, batch_size=4, drop_last=False)
    with pytest.raises(ValueError, match="batch_size >= 4"):
        samplers.GroupByLabelBatchSampler(pairs(8).add_column("label", [0, 1] * 4), batch_size=3, drop_last=False)
