"""The legacy datasets and DataLoader for `model.fit(...)`, as sentence-transformers' `datasets` module has them.

They draw from Python's `random` and numpy's global generator in the same way as the reference, so seeding those
(`random.seed`, `numpy.random.seed`) gives the same items and batches. `fit` reads each DataLoader's examples
once; `fit_batch_sampler` says which batch sampler keeps the property a loader was chosen for.
"""

from __future__ import annotations

import gzip
import logging
import math
import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from torch.utils.data import Dataset, IterableDataset

from sentembed.common.checks import check_positive_int
from sentembed.common.protocols import EncoderModel
from sentembed.training.input_example import InputExample
from sentembed.training.losses._denoising import delete_words

logger = logging.getLogger(__name__)


class SentencesDataset(Dataset):
    """A list of InputExamples as a Dataset (kept for old scripts; `model` is unused).

    Args:
        examples: The examples.
        model: Unused (the reference tokenized with it).
    """

    def __init__(self, examples: list[InputExample], model: Any) -> None:
        self.examples = examples

    def __getitem__(self, item: int) -> InputExample:
        return self.examples[item]

    def __len__(self) -> int:
        return len(self.examples)


class DenoisingAutoEncoderDataset(Dataset):
    """Sentences as (damaged copy, original) InputExamples for DenoisingAutoEncoderLoss (TSDAE).

    `noise_fn` makes the damaged copy; the default deletes 60% of the words (at least one word is kept).

    Args:
        sentences: The sentences.
        noise_fn: Damages a sentence. Default None: `delete`.
    """

    def __init__(self, sentences: list[str], noise_fn: Callable[[str], str] | None = None) -> None:
        self.sentences = sentences
        self.noise_fn = noise_fn or DenoisingAutoEncoderDataset.delete

    def __getitem__(self, item: int) -> InputExample:
        sentence = self.sentences[item]
        return InputExample(texts=[self.noise_fn(sentence), sentence])

    def __len__(self) -> int:
        return len(self.sentences)

    @staticmethod
    def delete(text: str, del_ratio: float = 0.6) -> str:
        """Drop each word with probability `del_ratio`, keeping at least one.

        Args:
            text: The sentence.
            del_ratio: The probability. Default 0.6.

        Returns:
            The damaged sentence.
        """
        return delete_words(text, del_ratio)


def text_key(text: Any) -> str:
    """How NoDuplicatesDataLoader compares texts: as strings, stripped and lower-cased."""
    return str(text).strip().lower()


class NoDuplicatesDataLoader:
    """Batches of InputExamples in which no text appears twice (case and surrounding spaces ignored), so that
    in-batch negatives are never copies of the positive. Examples are shuffled, and reshuffled when used up.

    Args:
        train_examples: The examples.
        batch_size: Examples per batch.
    """

    fit_batch_sampler = "no_duplicates"

    def __init__(self, train_examples: list[InputExample], batch_size: int) -> None:
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.data_pointer = 0
        self.collate_fn: Callable | None = None
        self.train_examples = train_examples
        random.shuffle(self.train_examples)

    @property
    def dataset(self) -> list[InputExample]:
        """The examples (what `fit` reads, as from a torch DataLoader)."""
        return self.train_examples

    def next_example(self) -> InputExample:
        """The next example, reshuffling when all were used.

        Returns:
            The example.
        """
        example = self.train_examples[self.data_pointer]
        self.data_pointer += 1
        if self.data_pointer >= len(self.train_examples):
            self.data_pointer = 0
            random.shuffle(self.train_examples)
        return example

    def __iter__(self) -> Iterator[Any]:
        for _ in range(len(self)):
            batch: list[InputExample] = []
            seen: set[str] = set()
            refused = 0
            while len(batch) < self.batch_size:
                # An example refused once stays refused for this batch: after a whole pass, none can fit.
                if refused > len(self.train_examples):
                    raise ValueError(f"NoDuplicatesDataLoader: too few distinct texts for a batch of {self.batch_size}")
                example = self.next_example()
                keys = [text_key(text) for text in example.texts]
                if seen.intersection(keys):
                    refused += 1
                    continue
                batch.append(example)
                seen.update(keys)
            yield self.collate_fn(batch) if self.collate_fn is not None else batch

    def __len__(self) -> int:
        return math.floor(len(self.train_examples) / self.batch_size)


class SentenceLabelDataset(IterableDataset):
    """Labelled InputExamples in groups of `samples_per_label` of one label, labels in a random order (for the
    batch triplet losses, which need several examples of a label in each batch). Labels with fewer examples are
    left out; without replacement, an example comes back only once every label has been visited.

    Args:
        examples: InputExamples with an int label each.
        samples_per_label: Examples of one label drawn together. Default 2.
        with_replacement: Draw an example again before every label was visited. Default False.
    """

    fit_batch_sampler = "group_by_label"

    def __init__(self, examples: list[InputExample], samples_per_label: int = 2, with_replacement: bool = False):
        super().__init__()
        self.samples_per_label = check_positive_int(samples_per_label, "samples_per_label")
        by_label: dict[Any, list[InputExample]] = {}
        for example in examples:
            by_label.setdefault(example.label, []).append(example)
        self.grouped_inputs: list[InputExample] = []
        self.groups_right_border: list[int] = []
        for group in by_label.values():
            if len(group) >= self.samples_per_label:
                self.grouped_inputs.extend(group)
                self.groups_right_border.append(len(self.grouped_inputs))
        self.label_range = np.arange(len(self.groups_right_border))
        self.with_replacement = with_replacement
        np.random.shuffle(self.label_range)
        logger.info(
            "SentenceLabelDataset: %d examples, %d usable (labels with at least %d examples), %d labels",
            len(examples),
            len(self.grouped_inputs),
            self.samples_per_label,
            len(self.label_range),
        )

    def group(self, label: int) -> np.ndarray:
        """The positions of one label's examples.

        Args:
            label: The label's index in `label_range`.

        Returns:
            The positions in `grouped_inputs`.
        """
        start = 0 if label == 0 else self.groups_right_border[label - 1]
        return np.arange(start, self.groups_right_border[label])

    def __iter__(self) -> Iterator[InputExample]:
        if not self.grouped_inputs:
            return
        position, count, used = 0, 0, {}
        while count < len(self.grouped_inputs):
            label = self.label_range[position]
            taken = used.setdefault(label, set())
            candidates = self.group(label)
            if not self.with_replacement:
                candidates = [index for index in candidates if index not in taken]
            if len(candidates) >= self.samples_per_label:
                for index in np.random.choice(candidates, self.samples_per_label, replace=False):
                    count += 1
                    taken.add(index)
                    yield self.grouped_inputs[index]
            position += 1
            if position >= len(self.label_range):
                position, used = 0, {}
                np.random.shuffle(self.label_range)

    def __len__(self) -> int:
        return len(self.grouped_inputs)


class ParallelSentencesDataset(Dataset):
    """Parallel sentences (a source sentence and its translations) as (sentence, teacher embedding of the source)
    InputExamples, for training a multilingual student with MSELoss. Several sets mix by `weight`; teacher
    embeddings are computed batch-wise and, with `use_embedding_cache`, once per sentence.

    Args:
        student_model: The model being trained (kept for the reference's signature).
        teacher_model: The model whose embeddings of the sources are the targets.
        batch_size: Sources the teacher embeds at once. Default 8.
        use_embedding_cache: Embed each source once. Default True.
    """

    def __init__(
        self, student_model: Any, teacher_model: EncoderModel, batch_size: int = 8, use_embedding_cache: bool = True
    ) -> None:
        self.student_model, self.teacher_model = student_model, teacher_model
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.use_embedding_cache = use_embedding_cache
        self.datasets: list[list[tuple[str, set[str]]]] = []
        self.datasets_iterator: list[int] = []
        self.dataset_indices: list[int] = []
        self.cache: list[InputExample] = []
        self.embedding_cache: dict[str, np.ndarray] = {}
        self.num_sentences = 0

    def load_data(
        self, filepath: str, weight: int = 100, max_sentences: int | None = None, max_sentence_length: int = 128
    ) -> None:
        """Read a tab-separated file (optionally .gz): a source sentence, then its translations, per line.

        Args:
            filepath: The file.
            weight: Sources drawn from this set per data generation. Default 100.
            max_sentences: Read at most this many lines. Default None: all.
            max_sentence_length: Skip lines with a sentence longer than this many characters (0: keep all).
                Default 128.
        """
        opener = gzip.open if str(filepath).endswith(".gz") else open
        rows = []
        with opener(filepath, "rt", encoding="utf8") as handle:
            for line in handle:
                sentences = line.strip().split("\t")
                if too_long(sentences, max_sentence_length):
                    continue
                rows.append(sentences)
                if max_sentences and max_sentences > 0 and len(rows) >= max_sentences:
                    break
        self.add_dataset(rows, weight, max_sentences, max_sentence_length)

    def add_dataset(
        self,
        parallel_sentences: list[list[str]],
        weight: int = 100,
        max_sentences: int | None = None,
        max_sentence_length: int = 128,
    ) -> None:
        """Add a set of [source, translation...] rows; each data generation draws `weight` sources from it.

        Args:
            parallel_sentences: The rows.
            weight: Sources drawn from this set per data generation. Default 100.
            max_sentences: Keep at most this many rows. Default None: all.
            max_sentence_length: Skip rows with a sentence longer than this many characters (0: keep all).
                Default 128.
        """
        translations: dict[str, set[str]] = {}
        for sentences in parallel_sentences:
            if too_long(sentences, max_sentence_length):
                continue
            translations.setdefault(sentences[0], set()).update(sentences)
            if max_sentences and max_sentences > 0 and len(translations) >= max_sentences:
                break
        if not translations:
            return
        self.num_sentences += sum(len(targets) for targets in translations.values())
        self.dataset_indices.extend([len(self.datasets)] * weight)
        self.datasets.append(list(translations.items()))
        self.datasets_iterator.append(0)

    def generate_data(self) -> None:
        """Draw the next sources of every set by weight, embed them with the teacher, and shuffle the examples."""
        entries = [self.next_entry(index) for index in self.dataset_indices]
        embeddings = self.get_embeddings([source for source, _ in entries])
        for embedding, (_, targets) in zip(embeddings, entries, strict=True):
            self.cache.extend(InputExample(texts=[target], label=embedding) for target in targets)
        random.shuffle(self.cache)

    def next_entry(self, data_idx: int) -> tuple[str, set[str]]:
        """The next source of one set, reshuffling the set when all were used.

        Args:
            data_idx: The set's index.

        Returns:
            (the source, its sentences: itself and its translations).
        """
        entries = self.datasets[data_idx]
        entry = entries[self.datasets_iterator[data_idx]]
        self.datasets_iterator[data_idx] += 1
        if self.datasets_iterator[data_idx] >= len(entries):
            self.datasets_iterator[data_idx] = 0
            random.shuffle(entries)
        return entry

    def get_embeddings(self, sentences: list[str]) -> list[np.ndarray]:
        """The teacher's embeddings of sources, from the cache where it has them.

        Args:
            sentences: The sources.

        Returns:
            One embedding per source.
        """
        if not self.use_embedding_cache:
            return list(self.encode(sentences))
        new = list(dict.fromkeys(sentence for sentence in sentences if sentence not in self.embedding_cache))
        if new:
            self.embedding_cache.update(zip(new, self.encode(new), strict=True))
        return [self.embedding_cache[sentence] for sentence in sentences]

    def encode(self, sentences: list[str]) -> np.ndarray:
        """Embed sources with the teacher.

        Args:
            sentences: The sources.

        Returns:
            A (len(sentences), dim) array.
        """
        return self.teacher_model.encode(
            sentences, batch_size=self.batch_size, show_progress_bar=False, convert_to_numpy=True
        )

    def __len__(self) -> int:
        return self.num_sentences

    def __getitem__(self, idx: int) -> InputExample:
        if not self.datasets:
            raise IndexError("ParallelSentencesDataset holds no sentences: call load_data or add_dataset first")
        if not self.cache:
            self.generate_data()
        return self.cache.pop()

    def __iter__(self) -> Iterator[InputExample]:
        """One pass of `len(self)` examples (indexing never runs out: it draws new data)."""
        return (self[index] for index in range(len(self)))


def too_long(sentences: list[str], max_sentence_length: int | None) -> bool:
    return bool(max_sentence_length and max_sentence_length > 0 and max(map(len, sentences)) > max_sentence_length)
