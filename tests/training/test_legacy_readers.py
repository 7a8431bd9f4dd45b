"""The legacy readers (`sentembed.readers`) on the real STS benchmark and MRPC files, and on small files in
each of the other layouts, compared with the reference's readers where they read the same files."""

from __future__ import annotations

import gzip
import logging
import shutil

import pytest
from sentence_transformers.sentence_transformer import readers as reference_readers

from sentembed.readers import (
    InputExample,
    LabelSentenceReader,
    NLIDataReader,
    PairedFilesReader,
    STSBenchmarkDataReader,
    STSDataReader,
    TripletReader,
)
from tests.support.data import read_sts
from tests.support.paths import DATA


def as_tuples(examples) -> list[tuple]:
    return [(example.guid, list(example.texts), example.label) for example in examples]


def test_sts_benchmark_reader_reads_the_real_files_normalised(tmp_path):
    first, second, scores = read_sts("dev")
    examples = STSBenchmarkDataReader(str(DATA / "stsbenchmark")).get_examples("sts-dev.csv")
    assert len(examples) == len(first) == 1500
    assert all(isinstance(example, InputExample) for example in examples)
    assert examples[10].texts == [first[10], second[10]]
    assert examples[10].label == pytest.approx(scores[10] / 5)
    reference = reference_readers.STSBenchmarkDataReader(str(DATA / "stsbenchmark")).get_examples("sts-dev.csv")
    assert as_tuples(examples) == as_tuples(reference)
    # gzipped, and cut at max_examples
    with open(DATA / "stsbenchmark" / "sts-dev.csv", "rb") as source, gzip.open(tmp_path / "dev.csv.gz", "wb") as out:
        shutil.copyfileobj(source, out)
    cut = STSBenchmarkDataReader(str(tmp_path)).get_examples("dev.csv.gz", max_examples=7)
    assert [example.texts for example in cut] == [example.texts for example in examples[:7]]


def test_sts_reader_on_mrpc_columns_without_normalising():
    reader = STSDataReader(str(DATA / "mrpc"), s1_col_idx=3, s2_col_idx=4, score_col_idx=0, normalize_scores=False)
    with pytest.raises(ValueError, match="msr_paraphrase_test.txt line 1: the score 'Quality' is not a number"):
        reader.get_examples("msr_paraphrase_test.txt")
    examples = TripletReader(str(DATA / "mrpc"), 3, 4, 0, has_header=True).get_examples("msr_paraphrase_test.txt")
    assert len(examples) == 1725
    assert {example.texts[2] for example in examples} == {"0", "1"}


def write(path, lines, compress=False):
    opener = gzip.open if compress else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_nli_reader_maps_labels_and_names_an_unknown_one(tmp_path):
    write(tmp_path / "s1.train.gz", ["A man sleeps.", "A dog runs.", "Kids play."], compress=True)
    write(tmp_path / "s2.train.gz", ["A man is awake.", "An animal moves.", "Children are outside."], compress=True)
    write(tmp_path / "labels.train.gz", ["contradiction", "entailment", "Neutral"], compress=True)
    reader = NLIDataReader(str(tmp_path))
    examples = reader.get_examples("train.gz")
    assert [example.label for example in examples] == [0, 1, 2]
    assert examples[1].texts == ["A dog runs.\n", "An animal moves.\n"] and examples[1].guid == "train.gz-1"
    assert reader.get_num_labels() == 3
    assert len(reader.get_examples("train.gz", max_examples=2)) == 2
    reference = reference_readers.NLIDataReader(str(tmp_path)).get_examples("train.gz")
    assert as_tuples(examples) == as_tuples(reference)
    write(tmp_path / "labels.dev.gz", ["maybe"], compress=True)
    for part in ("s1", "s2"):
        write(tmp_path / f"{part}.dev.gz", ["text"], compress=True)
    with pytest.raises(ValueError, match="unknown NLI label 'maybe'"):
        reader.get_examples("dev.gz")


def test_label_sentence_and_paired_readers(tmp_path):
    write(tmp_path / "labels.tsv", ["sport\tThe match ended 2-1.", "music\tThe band played.", "sport\tHe scored."])
    reader = LabelSentenceReader(str(tmp_path))
    examples = reader.get_examples("labels.tsv")
    assert [(example.texts, example.label) for example in examples] == [
        (["The match ended 2-1."], 0),
        (["The band played."], 1),
        (["He scored."], 0),
    ]
    assert reader.label_map == {"sport": 0, "music": 1}
    write(tmp_path / "en.txt", ["Hello", "Good morning", "Thanks"])
    write(tmp_path / "de.txt.gz", ["Hallo", "Guten Morgen"], compress=True)
    pairs = PairedFilesReader([str(tmp_path / "en.txt"), str(tmp_path / "de.txt.gz")]).get_examples()
    assert [(example.texts, example.label) for example in pairs] == [
        (["Hello\n", "Hallo\n"], 1),
        (["Good morning\n", "Guten Morgen\n"], 1),
    ]


def test_missing_files_and_short_rows_are_named(tmp_path):
    with pytest.raises(OSError, match="nope.csv does not exist"):
        STSBenchmarkDataReader(str(tmp_path)).get_examples("nope.csv")
    write(tmp_path / "short.tsv", ["anchor\tpositive"])
    with pytest.raises(ValueError, match="short.tsv line 1 has 2 columns; column 2 was expected"):
        TripletReader(str(tmp_path)).get_examples("short.tsv")


def test_logging_handler_prints_through_tqdm(capsys):
    from sentembed import LoggingHandler

    logger = logging.getLogger("tests.legacy.handler")
    handler = LoggingHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("training starts")
    finally:
        logger.removeHandler(handler)
    assert "WARNING training starts" in capsys.readouterr().out
