"""sentembed.datasets against sentence-transformers 6.2's legacy datasets: the same items and batches for the same
seeds, no text twice in a NoDuplicatesDataLoader batch, and each usable with the legacy model.fit()."""

from __future__ import annotations

import gzip
import random
import zlib

import numpy as np
import pytest
import torch

from sentembed.datasets import (
    DenoisingAutoEncoderDataset,
    NoDuplicatesDataLoader,
    ParallelSentencesDataset,
    SentenceLabelDataset,
)
from sentembed.training.input_example import InputExample
from tests.support.data import read_sts

reference_datasets = pytest.importorskip("sentence_transformers.sentence_transformer.datasets")


def reference_example(example):
    from sentence_transformers.sentence_transformer.readers import InputExample as ReferenceExample

    return ReferenceExample(texts=list(example.texts), label=example.label)


def sts_pairs(count: int) -> list[InputExample]:
    """STSb train pairs; many sentences recur, in other case too, which the loader must keep apart."""
    first, second, scores = read_sts("train")
    examples = [
        InputExample(texts=[a, b], label=round(s))
        for a, b, s in zip(first[:count], second[:count], scores[:count], strict=True)
    ]
    examples += [InputExample(texts=[a.upper(), b]) for a, b in zip(first[:10], second[10:20], strict=True)]
    return examples


def as_texts(batch) -> list[tuple[str, ...]]:
    return [tuple(example.texts) for example in batch]


def test_no_duplicates_loader_gives_the_reference_batches_for_a_seed():
    examples = sts_pairs(200)
    random.seed(7)
    ours = NoDuplicatesDataLoader(list(examples), batch_size=16)
    ours_batches = [as_texts(batch) for _ in range(2) for batch in ours]
    random.seed(7)
    reference = reference_datasets.NoDuplicatesDataLoader([reference_example(e) for e in examples], batch_size=16)
    reference_batches = [as_texts(batch) for _ in range(2) for batch in reference]
    assert len(ours) == len(reference) == 210 // 16
    assert ours_batches == reference_batches
    for batch in ours_batches:
        keys = [text.strip().lower() for row in batch for text in row]
        assert len(keys) == len(set(keys)), "a text came twice in one batch"


def test_no_duplicates_loader_refuses_a_batch_it_cannot_fill():
    examples = [InputExample(texts=["same", f"other {i}"]) for i in range(6)]
    with pytest.raises(ValueError, match="too few distinct texts for a batch of 2"):
        next(iter(NoDuplicatesDataLoader(examples, batch_size=2)))


def labelled_sentences() -> list[InputExample]:
    """STSb train sentences labelled by their pair's rounded score: six labels of very different sizes."""
    first, _, scores = read_sts("train")
    return [
        InputExample(texts=[text], label=round(score)) for text, score in zip(first[:120], scores[:120], strict=True)
    ]


@pytest.mark.parametrize(("samples_per_label", "with_replacement"), [(2, False), (3, True), (25, False)])
def test_sentence_label_dataset_gives_the_reference_items_for_a_seed(samples_per_label, with_replacement):
    examples = labelled_sentences()
    np.random.seed(3)
    ours = SentenceLabelDataset(examples, samples_per_label, with_replacement)
    ours_items = [(tuple(e.texts), e.label) for e in ours]
    np.random.seed(3)
    reference = reference_datasets.SentenceLabelDataset(
        [reference_example(e) for e in examples], samples_per_label, with_replacement
    )
    reference_items = [(tuple(e.texts), e.label) for e in reference]
    assert len(ours) == len(reference) and ours_items == reference_items
    # One pass ends once len() items came; the last group may run over, as in the reference.
    assert len(ours) <= len(ours_items) < len(ours) + samples_per_label
    labels = [label for _, label in ours_items]
    groups = [labels[i : i + samples_per_label] for i in range(0, len(labels), samples_per_label)]
    assert all(len(set(group)) == 1 for group in groups), "each group holds one label"


class HashTeacher:
    """A deterministic stand-in teacher: a sentence's 'embedding' is seeded by its CRC, so both libraries agree."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, sentences, batch_size=32, show_progress_bar=False, convert_to_numpy=True):
        self.calls += 1
        rows = [np.random.default_rng(zlib.crc32(s.encode())).standard_normal(4) for s in sentences]
        return np.asarray(rows, dtype=np.float32)


def parallel_rows() -> list[list[str]]:
    return [
        ["Hello world", "Hallo Welt", "Bonjour le monde"],
        ["Good morning", "Guten Morgen"],
        ["A very long sentence " * 10, "Ein sehr langer Satz"],
        ["Thank you", "Danke", "Merci", "Gracias"],
        ["Hello world", "Hola mundo"],
    ]


def fill(dataset, rows, tmp_path) -> None:
    path = tmp_path / "parallel.tsv.gz"
    with gzip.open(path, "wt", encoding="utf8") as handle:
        handle.write("".join("\t".join(row) + "\n" for row in rows[:3]))
    dataset.load_data(str(path), weight=3, max_sentence_length=100)
    dataset.add_dataset(rows[3:], weight=2, max_sentences=5)


def test_parallel_sentences_dataset_gives_the_reference_items_for_a_seed(tmp_path):
    rows = parallel_rows()
    random.seed(11)
    teacher = HashTeacher()
    ours = ParallelSentencesDataset(None, teacher, batch_size=4)
    fill(ours, rows, tmp_path)
    ours_items = [(tuple(e.texts), tuple(np.round(e.label, 6))) for e in (ours[i] for i in range(3 * len(ours)))]
    random.seed(11)
    reference = reference_datasets.ParallelSentencesDataset(None, HashTeacher(), batch_size=4)
    fill(reference, rows, tmp_path)
    reference_items = [
        (tuple(e.texts), tuple(np.round(e.label, 6))) for e in (reference[i] for i in range(3 * len(reference)))
    ]
    assert len(ours) == len(reference) == 11  # 5 + 6 sentences: the long row is skipped
    assert ours_items == reference_items
    assert {texts[0] for texts, _ in ours_items} >= {"Hola mundo", "Merci", "Hello world"}
    assert len(list(ours)) == len(ours), "iterating gives one pass of len() examples"


def test_denoising_dataset_pairs_a_damaged_copy_with_the_original():
    sentences = ["the quick brown fox jumps over the lazy dog", "one"]
    random.seed(0)
    dataset = DenoisingAutoEncoderDataset(sentences)
    damaged, original = dataset[0].texts
    assert original == sentences[0] and damaged != original
    words = iter(original.split())
    assert all(word in words for word in damaged.split()), "the kept words keep their order"
    assert dataset[1].texts == ["one", "one"], "a single word is always kept"
    shouting = DenoisingAutoEncoderDataset(sentences, noise_fn=str.upper)
    assert shouting[0].texts == [sentences[0].upper(), sentences[0]] and len(shouting) == 2


def changed(model, before) -> bool:
    return any(not torch.equal(a, b) for a, b in zip(before, model.state_dict().values(), strict=True))


def test_fit_with_a_no_duplicates_loader(tmp_path):
    from sentembed import SentenceTransformer
    from sentembed.losses import MultipleNegativesRankingLoss
    from tests.support.paths import MINILM_L3

    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    before = [tensor.clone() for tensor in model.state_dict().values()]
    loader = NoDuplicatesDataLoader([InputExample(texts=e.texts) for e in sts_pairs(40)], batch_size=8)
    model.fit(
        [(loader, MultipleNegativesRankingLoss(model))], steps_per_epoch=2, warmup_steps=0, show_progress_bar=False
    )
    assert changed(model, before)


@pytest.mark.slow
def test_fit_with_parallel_sentences_and_sentence_label_datasets(minilm_l6):
    from torch.utils.data import DataLoader

    from sentembed import SentenceTransformer
    from sentembed.losses import BatchHardTripletLoss, MSELoss
    from tests.support.paths import MINILM_L3

    student = SentenceTransformer(str(MINILM_L3), device="cpu")
    parallel = ParallelSentencesDataset(student, minilm_l6, batch_size=8)
    parallel.add_dataset(parallel_rows())
    before = [tensor.clone() for tensor in student.state_dict().values()]
    student.fit([(DataLoader(parallel, batch_size=4), MSELoss(student))], steps_per_epoch=2, show_progress_bar=False)
    assert changed(student, before)
    labelled = SentenceLabelDataset(labelled_sentences(), samples_per_label=4)
    before = [tensor.clone() for tensor in student.state_dict().values()]
    loader = DataLoader(labelled, batch_size=16)
    student.fit([(loader, BatchHardTripletLoss(student))], steps_per_epoch=2, warmup_steps=0, show_progress_bar=False)
    assert changed(student, before)
