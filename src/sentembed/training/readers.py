"""The legacy dataset readers (`sentence_transformers.readers`): text files to lists of `InputExample`.

They serve `model.fit(...)` scripts written for sentence-transformers 2; new code builds a `datasets.Dataset`.
Every reader opens `.gz` files transparently and stops after `max_examples` rows when that is positive.
"""

from __future__ import annotations

import csv
import gzip
import os
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO

from sentembed.training.input_example import InputExample


def open_text(path: str | os.PathLike) -> IO[str]:
    """A UTF-8 text file (a leading byte-order mark dropped), gunzipped on the fly when its name ends in `.gz`;
    OSError naming a missing file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise OSError(f"dataset file {path} does not exist")
    return gzip.open(path, "rt", encoding="utf-8-sig") if path.endswith(".gz") else open(path, encoding="utf-8-sig")


def take(rows: Iterator[InputExample], max_examples: int) -> list[InputExample]:
    """The rows, or the first `max_examples` of them when that is positive."""
    examples = []
    for example in rows:
        examples.append(example)
        if 0 < max_examples <= len(examples):
            break
    return examples


def column(row: list[str], index: int, path: str, line: int) -> str:
    """`row[index]`, or a ValueError naming the file and line that has too few columns."""
    if index >= len(row):
        raise ValueError(f"{path} line {line + 1} has {len(row)} columns; column {index} was expected")
    return row[index]


class STSDataReader:
    """Sentence pairs with a similarity score per line (tab-separated by default: text, text, score).

    Args:
        dataset_folder: the folder holding the split files.
        s1_col_idx: column of the first sentence.
        s2_col_idx: column of the second sentence.
        score_col_idx: column of the score.
        delimiter: the column separator.
        quoting: the `csv` quoting mode.
        normalize_scores: map scores from [min_score, max_score] to [0, 1].
        min_score: the lowest score of the scale.
        max_score: the highest score of the scale.
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 0,
        s2_col_idx: int = 1,
        score_col_idx: int = 2,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
        normalize_scores: bool = True,
        min_score: float = 0,
        max_score: float = 5,
    ) -> None:
        if normalize_scores and max_score <= min_score:
            raise ValueError(f"max_score ({max_score}) must be greater than min_score ({min_score})")
        self.dataset_folder = dataset_folder
        self.s1_col_idx, self.s2_col_idx, self.score_col_idx = s1_col_idx, s2_col_idx, score_col_idx
        self.delimiter, self.quoting = delimiter, quoting
        self.normalize_scores, self.min_score, self.max_score = normalize_scores, min_score, max_score

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The pairs of `filename` (inside `dataset_folder`), labelled with their (normalised) score.

        Args:
            filename: The file, inside the dataset folder.
            max_examples: Read at most this many (0: all). Default 0.

        Returns:
            One InputExample per line.

        Raises:
            ValueError: A line with too few columns or a bad value, naming the file and line.
        """
        path = os.path.join(self.dataset_folder, filename)
        with open_text(path) as handle:
            rows = csv.reader(handle, delimiter=self.delimiter, quoting=self.quoting)
            return take((self._example(filename, path, line, row) for line, row in enumerate(rows)), max_examples)

    def _example(self, filename: str, path: str, line: int, row: list[str]) -> InputExample:
        text = column(row, self.score_col_idx, path, line)
        try:
            score = float(text)
        except ValueError:
            raise ValueError(f"{path} line {line + 1}: the score {text!r} is not a number") from None
        if self.normalize_scores:
            score = (score - self.min_score) / (self.max_score - self.min_score)
        texts = [column(row, self.s1_col_idx, path, line), column(row, self.s2_col_idx, path, line)]
        return InputExample(guid=f"{filename}{line}", texts=texts, label=score)


class STSBenchmarkDataReader(STSDataReader):
    """The STS benchmark files (sts-train.csv, ...): sentences in columns 5 and 6, the 0-5 score in column 4,
    normalised to [0, 1].

    Args:
        dataset_folder: the folder holding the split files.
        s1_col_idx: column of the first sentence. Default 5.
        s2_col_idx: column of the second sentence. Default 6.
        score_col_idx: column of the score. Default 4.
        delimiter: the column separator. Default a tab.
        quoting: the `csv` quoting mode. Default `csv.QUOTE_NONE`.
        normalize_scores: map scores from [min_score, max_score] to [0, 1]. Default True.
        min_score: the lowest score of the scale. Default 0.
        max_score: the highest score of the scale. Default 5.
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 5,
        s2_col_idx: int = 6,
        score_col_idx: int = 4,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
        normalize_scores: bool = True,
        min_score: float = 0,
        max_score: float = 5,
    ) -> None:
        super().__init__(
            dataset_folder, s1_col_idx, s2_col_idx, score_col_idx, delimiter, quoting, normalize_scores, min_score,
            max_score,
        )  # fmt: skip


class NLIDataReader:
    """The SNLI / MultiNLI layout: `s1.{split}`, `s2.{split}` and `labels.{split}` files, one item per line,
    labels "contradiction", "entailment" or "neutral" (mapped to 0, 1, 2).

    Args:
        dataset_folder: the folder holding the three files of each split.
    """

    def __init__(self, dataset_folder: str) -> None:
        self.dataset_folder = dataset_folder

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The pairs of split `filename` (e.g. "train.gz" reads s1.train.gz, s2.train.gz and labels.train.gz).

        Args:
            filename: The split's file suffix.
            max_examples: Read at most this many (0: all). Default 0.

        Returns:
            One InputExample per line, labelled with the label's number.

        Raises:
            ValueError: An unknown label.
        """
        paths = [os.path.join(self.dataset_folder, f"{part}.{filename}") for part in ("s1", "s2", "labels")]
        with ExitStack() as stack:
            first, second, labels = (stack.enter_context(open_text(path)) for path in paths)
            rows = (
                InputExample(guid=f"{filename}-{index}", texts=[a, b], label=self.map_label(label))
                for index, (a, b, label) in enumerate(zip(first, second, labels, strict=True))
            )
            return take(rows, max_examples)

    @staticmethod
    def get_labels() -> dict[str, int]:
        """The label names and their numbers.

        Returns:
            {"contradiction": 0, "entailment": 1, "neutral": 2}.
        """
        return {"contradiction": 0, "entailment": 1, "neutral": 2}

    def get_num_labels(self) -> int:
        """How many labels there are.

        Returns:
            3.
        """
        return len(self.get_labels())

    def map_label(self, label: str) -> int:
        """The label's number.

        Args:
            label: A label name (case and surrounding spaces ignored).

        Returns:
            Its number.

        Raises:
            ValueError: An unknown label.
        """
        name = label.strip().lower()
        if name not in self.get_labels():
            raise ValueError(f"unknown NLI label {label.strip()!r}; expected one of {list(self.get_labels())}")
        return self.get_labels()[name]


class TripletReader:
    """(anchor, positive, negative) rows, one per line.

    Args:
        dataset_folder: the folder holding the files.
        s1_col_idx: column of the anchor.
        s2_col_idx: column of the positive.
        s3_col_idx: column of the negative.
        has_header: skip the first line.
        delimiter: the column separator.
        quoting: the `csv` quoting mode.
    """

    def __init__(
        self,
        dataset_folder: str,
        s1_col_idx: int = 0,
        s2_col_idx: int = 1,
        s3_col_idx: int = 2,
        has_header: bool = False,
        delimiter: str = "\t",
        quoting: int = csv.QUOTE_NONE,
    ) -> None:
        self.dataset_folder = dataset_folder
        self.columns = (s1_col_idx, s2_col_idx, s3_col_idx)
        self.has_header, self.delimiter, self.quoting = has_header, delimiter, quoting

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """The triplets of `filename` (inside `dataset_folder`).

        Args:
            filename: The file, inside the dataset folder.
            max_examples: Read at most this many (0: all). Default 0.

        Returns:
            One InputExample per line.

        Raises:
            ValueError: A line with too few columns or a bad value, naming the file and line.
        """
        path = os.path.join(self.dataset_folder, filename)
        with open_text(path) as handle:
            rows = csv.reader(handle, delimiter=self.delimiter, quoting=self.quoting)
            if self.has_header:
                next(rows, None)
            examples = (
                InputExample(texts=[column(row, index, path, line) for index in self.columns])
                for line, row in enumerate(rows, start=int(self.has_header))
            )
            return take(examples, max_examples)


class LabelSentenceReader:
    """(label, sentence) lines; labels are numbered in order of first appearance (kept in `label_map`).

    Args:
        folder: the folder holding the files.
        label_col_idx: column of the label.
        sentence_col_idx: column of the sentence.
        separator: the column separator.
    """

    def __init__(self, folder: str, label_col_idx: int = 0, sentence_col_idx: int = 1, separator: str = "\t") -> None:
        self.folder = folder
        self.label_map: dict[str, int] = {}
        self.label_col_idx, self.sentence_col_idx, self.separator = label_col_idx, sentence_col_idx, separator

    def get_examples(self, filename: str, max_examples: int = 0) -> list[InputExample]:
        """One single-text example per line of `filename`, labelled with its label's number.

        Args:
            filename: The file, inside the dataset folder.
            max_examples: Read at most this many (0: all). Default 0.

        Returns:
            One InputExample per line.

        Raises:
            ValueError: A line with too few columns or a bad value, naming the file and line.
        """
        path = os.path.join(self.folder, filename)
        with open_text(path) as handle:
            return take((self._example(filename, path, line, text) for line, text in enumerate(handle)), max_examples)

    def _example(self, filename: str, path: str, line: int, text: str) -> InputExample:
        row = text.strip().split(self.separator)
        label = column(row, self.label_col_idx, path, line)
        label_id = self.label_map.setdefault(label, len(self.label_map))
        return InputExample(
            guid=f"{filename}-{line}", texts=[column(row, self.sentence_col_idx, path, line)], label=label_id
        )


class PairedFilesReader:
    """Parallel files read line by line: line i of every file makes one example (label 1), up to the shortest.

    Args:
        filepaths: the files, e.g. [english.txt.gz, german.txt.gz].
    """

    def __init__(self, filepaths: list[str]) -> None:
        self.filepaths = list(filepaths)

    def get_examples(self, max_examples: int = 0) -> list[InputExample]:
        """One example per line position, holding that line of every file (line endings kept).

        Args:
            max_examples: Read at most this many (0: all). Default 0.

        Returns:
            The InputExamples.
        """
        with ExitStack() as stack:
            handles = [stack.enter_context(open_text(path)) for path in self.filepaths]
            rows = (  # not strict: as in the reference, the examples stop at the shortest file
                InputExample(guid=str(index), texts=list(lines), label=1)
                for index, lines in enumerate(zip(*handles, strict=False))
            )
            return take(rows, max_examples)
