"""Bi-encoder evaluators agree with the reference's on real models and data; LabelAccuracyEvaluator,
MSEEvaluatorFromDataFrame and NanoBEIREvaluator within 1e-6 on the same inputs, NanoBEIR read from a local folder
in the hub's layout."""

from __future__ import annotations

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sentembed.evaluation import LabelAccuracyEvaluator, MSEEvaluatorFromDataFrame, NanoBEIREvaluator
from sentembed.training.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)
from sentembed.training.input_example import InputExample
from tests.support.data import read_beir, read_mrpc, read_sts
from tests.support.paths import DATA

TOLERANCE = 1e-4


class CachedEncoder:
    """Wraps a model so that identical encode() calls (same texts and options) run it only once.

    Both our evaluator and the reference's then score the very same embeddings, which isolates the metric code.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.similarity_fn_name = model.similarity_fn_name or "cosine"
        self.cache: dict = {}
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *args, **kwargs: None)

    def encode(self, sentences, **options):
        wanted = ("precision", "normalize_embeddings", "truncate_dim")
        options = {k: v for k, v in options.items() if k in wanted and v is not None}
        options["precision"] = options.get("precision") or "float32"
        key = (tuple(sentences), tuple(sorted(options.items(), key=str)))
        if key not in self.cache:
            self.cache[key] = self.model.encode(list(sentences), batch_size=64, convert_to_numpy=True, **options)
        return self.cache[key].copy() if not isinstance(self.cache[key], torch.Tensor) else self.cache[key]

    def encode_query(self, sentences, **options):
        return self.encode(sentences, **options)

    encode_document = encode_query

    def similarity(self, a, b):
        return self.model.similarity(a, b)

    def eval(self):
        """Evaluators that call model.eval() first get the wrapper itself."""
        return self


def assert_same_metrics(ours: dict, reference: dict) -> None:
    assert set(ours) <= set(reference), sorted(set(ours) - set(reference))
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=TOLERANCE), key


@pytest.fixture(scope="module")
def cached_l3(minilm_l3):
    return CachedEncoder(minilm_l3)


@pytest.fixture(scope="module")
def sts_test():
    first, second, scores = read_sts("test")
    return first, second, [score / 5 for score in scores]


def test_embedding_similarity_matches_reference(cached_l3, sts_test):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator as Reference

    names = ["cosine", "euclidean", "manhattan", "dot"]
    ours = EmbeddingSimilarityEvaluator(*sts_test, name="sts-test", similarity_fn_names=names)(cached_l3)
    reference = Reference(*sts_test, name="sts-test", similarity_fn_names=names)(cached_l3)
    assert_same_metrics(ours, reference)
    assert ours["sts-test_spearman_cosine"] == pytest.approx(0.8241, abs=1e-4)
    assert len(ours) == 10


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_embedding_similarity_quantized_matches_reference(cached_l3, sts_test, precision):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator as Reference

    ours = EmbeddingSimilarityEvaluator(*sts_test, precision=precision, truncate_dim=128)(cached_l3)
    reference = Reference(*sts_test, precision=precision, truncate_dim=128)(cached_l3)
    assert_same_metrics(ours, reference)


def test_embedding_similarity_on_the_real_model(minilm_l3, sts_test):
    evaluator = EmbeddingSimilarityEvaluator(*sts_test, name="sts")
    metrics = evaluator(minilm_l3)
    assert evaluator.primary_metric == "sts_spearman_cosine"
    assert metrics[evaluator.primary_metric] == pytest.approx(0.8241, abs=1e-4)


def test_embedding_similarity_writes_csv(cached_l3, sts_test, tmp_path):
    evaluator = EmbeddingSimilarityEvaluator(*sts_test, name="sts")
    first = evaluator(cached_l3, output_path=str(tmp_path), epoch=0, steps=10)
    evaluator(cached_l3, output_path=str(tmp_path), epoch=1, steps=20)
    lines = (tmp_path / evaluator.csv_file).read_text().splitlines()
    assert lines[0] == "epoch,steps,pearson_cosine,spearman_cosine"
    assert lines[1].startswith("0,10,") and lines[2].startswith("1,20,")
    assert float(lines[1].split(",")[3]) == pytest.approx(first["sts_spearman_cosine"])


@pytest.fixture(scope="module")
def scifact_1k():
    return read_beir("scifact_1k")


@pytest.fixture(scope="module")
def cached_l6(minilm_l6):
    return CachedEncoder(minilm_l6)


def test_information_retrieval_matches_reference_and_published_figure(cached_l6, scifact_1k):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator as Reference

    cached = cached_l6
    wanted = dict(
        name="scifact",
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[10, 100],
        mrr_at_k=[10],
        ndcg_at_k=[10],
        map_at_k=[100],
    )
    ours_evaluator = InformationRetrievalEvaluator(*scifact_1k, **wanted)
    ours = ours_evaluator(cached)
    reference = Reference(*scifact_1k, **wanted)(cached)
    assert_same_metrics(ours, reference)
    assert ours_evaluator.primary_metric == "scifact_cosine_ndcg@10"
    assert ours["scifact_cosine_ndcg@10"] == pytest.approx(0.79605, abs=1e-4)
    assert ours["scifact_cosine_mrr@10"] == pytest.approx(0.77115, abs=1e-4)
    assert ours["scifact_cosine_recall@100"] == pytest.approx(0.99000, abs=1e-4)


def test_information_retrieval_does_not_depend_on_chunk_size(cached_l6, minilm_l6, scifact_1k):
    cached = cached_l6
    queries, corpus, relevant = scifact_1k
    small = InformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=7)
    whole = InformationRetrievalEvaluator(queries, corpus, relevant)
    corpus_embeddings = cached.encode(list(corpus.values()))
    embeddings = torch.from_numpy(corpus_embeddings)
    assert small.compute_metrics(minilm_l6, embeddings) == whole.compute_metrics(minilm_l6, embeddings)


def test_binary_classification_matches_reference_on_mrpc(cached_l3):
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator as Reference

    first, second, labels = read_mrpc("test")
    names = ["cosine", "dot", "euclidean", "manhattan"]
    ours_evaluator = BinaryClassificationEvaluator(first, second, labels, name="mrpc", similarity_fn_names=names)
    ours = ours_evaluator(cached_l3)
    reference = Reference(first, second, labels, name="mrpc", similarity_fn_names=names)(cached_l3)
    assert_same_metrics(ours, reference)
    assert ours_evaluator.primary_metric == "mrpc_max_ap"
    assert 0.6 < ours["mrpc_cosine_accuracy"] < 0.9


@pytest.mark.parametrize("high_score_more_similar", [True, False])
def test_binary_classification_thresholds_are_static_and_reproduce_their_scores(high_score_more_similar):
    generator = np.random.default_rng(4)
    labels = generator.integers(0, 2, 300)
    scores = np.round(generator.normal(size=300) + labels * (1 if high_score_more_similar else -1), 1)  # ties
    accuracy, cut = BinaryClassificationEvaluator.find_best_acc_and_threshold(scores, labels, high_score_more_similar)
    predicted = scores >= cut if high_score_more_similar else scores <= cut
    assert accuracy == pytest.approx((predicted == labels).mean())
    every_cut = [((scores >= c if high_score_more_similar else scores <= c) == labels).mean() for c in scores]
    assert accuracy >= max(every_cut) - 1e-12
    f1, precision, recall, cut = BinaryClassificationEvaluator.find_best_f1_and_threshold(
        scores, labels, high_score_more_similar
    )
    predicted = scores >= cut if high_score_more_similar else scores <= cut
    true_positive = (predicted & (labels == 1)).sum()
    assert precision == pytest.approx(true_positive / predicted.sum())
    assert recall == pytest.approx(true_positive / labels.sum())
    assert f1 == pytest.approx(2 * precision * recall / (precision + recall))


def test_triplet_and_reranking_match_reference_on_sts(cached_l3, sts_test):
    from sentence_transformers.sentence_transformer.evaluation import RerankingEvaluator as ReferenceReranking
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator as ReferenceTriplet

    first, second, scores = sts_test
    similar = [i for i, score in enumerate(scores) if score >= 0.8][:200]
    unrelated = [second[(i * 7 + 3) % len(second)] for i in similar]
    anchors, positives = [first[i] for i in similar], [second[i] for i in similar]
    ours = TripletEvaluator(anchors, positives, unrelated, name="t")(cached_l3)
    assert_same_metrics(ours, ReferenceTriplet(anchors, positives, unrelated, name="t")(cached_l3))
    assert ours["t_cosine_accuracy"] > 0.9

    samples = [{"query": anchors[i], "positive": [positives[i]], "negative": unrelated[i : i + 5]} for i in range(100)]
    ours = RerankingEvaluator(samples, name="r")(cached_l3)
    assert_same_metrics(ours, ReferenceReranking(samples, name="r")(cached_l3))


def test_sequential_evaluator_merges_metrics(cached_l3, sts_test):
    first, second, scores = sts_test
    similarity = EmbeddingSimilarityEvaluator(first, second, scores, name="a")
    binary = BinaryClassificationEvaluator(first, second, [int(s > 0.5) for s in scores], name="b")
    sequential = SequentialEvaluator([similarity, binary], main_score_function=np.mean)
    metrics = sequential(cached_l3)
    assert sequential.primary_metric == "sequential_score"
    expected = (metrics["a_spearman_cosine"] + metrics["b_cosine_ap"]) / 2
    assert metrics["sequential_score"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: EmbeddingSimilarityEvaluator(["a"], ["b", "c"], [1.0]), "same length"),
        (lambda: EmbeddingSimilarityEvaluator([], [], []), "empty"),
        (lambda: EmbeddingSimilarityEvaluator(["a"], ["b"], [1.0], precision="int4"), "precision"),
        (lambda: BinaryClassificationEvaluator(["a"], ["b"], [2]), "0 or 1"),
        (lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {}), "relevant"),
        (lambda: RerankingEvaluator([{"query": "q", "positive": []}]), "negative"),
    ],
)
def test_bad_evaluator_input_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()


STRICT_TOLERANCE = 1e-6  # LabelAccuracy, MSEFromDataFrame and NanoBEIR agree within 1e-6
NANO_SPLIT = "NanoSciFact"
README = """---
configs:
- config_name: corpus
  data_files:
  - split: NanoSciFact
    path: corpus/NanoSciFact-*
- config_name: queries
  data_files:
  - split: NanoSciFact
    path: queries/NanoSciFact-*
- config_name: qrels
  data_files:
  - split: NanoSciFact
    path: qrels/NanoSciFact-*
---
"""


@pytest.fixture(scope="module")
def nano_folder(tmp_path_factory):
    """A NanoSciFact in the NanoBEIR-en layout: 40 SciFact test queries, their relevant abstracts and 160 others."""
    from datasets import Dataset

    queries, corpus, relevant = read_beir("scifact")
    query_ids = [qid for qid in queries if qid in relevant][:40]
    wanted = list(dict.fromkeys(cid for qid in query_ids for cid in sorted(relevant[qid])))
    others = [cid for cid in corpus if cid not in set(wanted)][:160]
    folder = tmp_path_factory.mktemp("NanoBEIR-en")
    tables = {
        "corpus": {"_id": wanted + others, "text": [corpus[cid] for cid in wanted + others]},
        "queries": {"_id": query_ids, "text": [queries[qid] for qid in query_ids]},
        "qrels": {
            "query-id": [qid for qid in query_ids for _ in sorted(relevant[qid])],
            "corpus-id": [cid for qid in query_ids for cid in sorted(relevant[qid])],
        },
    }
    for subset, columns in tables.items():
        (folder / subset).mkdir()
        Dataset.from_dict(columns).to_parquet(str(folder / subset / f"{NANO_SPLIT}-00000-of-00001.parquet"))
    (folder / "README.md").write_text(README, encoding="utf-8")
    return folder


def test_nano_beir_from_a_local_folder_matches_reference(nano_folder, cached_l3):
    from sentence_transformers.sentence_transformer.evaluation import NanoBEIREvaluator as Reference

    ours_evaluator = NanoBEIREvaluator(["scifact"], dataset_folder=nano_folder, ndcg_at_k=[5, 10])
    ours = ours_evaluator(cached_l3)
    # The reference reads the same folder through datasets.load_dataset (its README names the subsets).
    reference_evaluator = Reference(["scifact"], dataset_id=str(nano_folder), ndcg_at_k=[5, 10])
    reference = reference_evaluator(cached_l3)
    assert set(ours) == set(reference)
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=STRICT_TOLERANCE), key
    assert ours_evaluator.primary_metric == reference_evaluator.primary_metric == "NanoBEIR_mean_cosine_ndcg@10"
    assert 0.3 < ours["NanoSciFact_cosine_ndcg@10"] == ours["NanoBEIR_mean_cosine_ndcg@10"] < 1.0


def test_nano_beir_truncation_prompts_and_aggregate(nano_folder, cached_l3, tmp_path):
    from sentence_transformers.sentence_transformer.evaluation import NanoBEIREvaluator as Reference

    options = dict(truncate_dim=128, aggregate_fn=max, aggregate_key="best", query_prompts="query: ")
    ours = NanoBEIREvaluator(["SciFact"], dataset_folder=nano_folder, **options)(cached_l3, output_path=str(tmp_path))
    reference = Reference(["SciFact"], dataset_id=str(nano_folder), **options)(cached_l3)
    assert set(ours) == set(reference)
    assert "NanoBEIR_best_128_cosine_ndcg@10" in ours
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=STRICT_TOLERANCE), key
    assert (tmp_path / "NanoBEIR_evaluation_best_results.csv").exists()


def test_nano_beir_refuses_bad_names_and_missing_data(nano_folder, tmp_path):
    with pytest.raises(ValueError, match=r"\['scifakt'\] are not valid NanoBEIR datasets. Valid .*'scifact'"):
        NanoBEIREvaluator(["scifakt"], dataset_folder=nano_folder)
    with pytest.raises(ValueError, match="dataset_names cannot be empty. Use None"):
        NanoBEIREvaluator([], dataset_folder=nano_folder)
    with pytest.raises(ValueError, match="query_prompts has no prompt for the sets"):
        NanoBEIREvaluator(["scifact"], dataset_folder=nano_folder, query_prompts={"nq": "q: "})
    with pytest.raises(OSError, match=r"has no corpus/NanoNFCorpus\*\.parquet"):
        NanoBEIREvaluator(["nfcorpus"], dataset_folder=nano_folder)
    with pytest.raises(OSError, match="pass its folder as dataset_folder"):
        NanoBEIREvaluator(["scifact"], dataset_id=str(tmp_path / "nowhere" / "NanoBEIR-en"))


def test_nano_beir_offline_without_a_folder_is_an_os_error(monkeypatch):
    """No network here: the hub load fails, and the error says how to use a local copy."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(OSError, match="dataset_folder="):
        NanoBEIREvaluator(["scifact"])


# ----- LabelAccuracyEvaluator ------------------------------------------------------------------------------


def mrpc_examples(count: int) -> list[InputExample]:
    first, second, labels = read_mrpc("test")
    return [
        InputExample(texts=[a, b], label=label) for a, b, label in list(zip(first, second, labels, strict=True))[:count]
    ]


def test_label_accuracy_matches_reference_with_the_same_classifier(minilm_l3, tmp_path):
    from sentence_transformers import SentenceTransformer as ReferenceModel
    from sentence_transformers.losses import SoftmaxLoss as ReferenceSoftmaxLoss
    from sentence_transformers.sentence_transformer.evaluation import LabelAccuracyEvaluator as Reference

    from sentembed.losses import SoftmaxLoss
    from tests.support.paths import MINILM_L3

    torch.manual_seed(0)
    ours_loss = SoftmaxLoss(minilm_l3, minilm_l3.get_embedding_dimension(), num_labels=2)
    reference_model = ReferenceModel(str(MINILM_L3), device="cpu")
    reference_loss = ReferenceSoftmaxLoss(reference_model, 384, num_labels=2)
    reference_loss.classifier.load_state_dict(ours_loss.classifier.state_dict())
    examples = mrpc_examples(200)
    ours = LabelAccuracyEvaluator(DataLoader(examples, batch_size=16), "mrpc", ours_loss)(minilm_l3, str(tmp_path))
    reference = Reference(DataLoader(examples, batch_size=16), "mrpc", reference_loss)(reference_model)
    assert ours == pytest.approx(reference, abs=STRICT_TOLERANCE)
    assert 0.0 < ours["mrpc_accuracy"] < 1.0
    assert (tmp_path / "accuracy_evaluation_mrpc_results.csv").read_text().startswith("epoch,steps,accuracy")


def test_label_accuracy_needs_a_classifier():
    with pytest.raises(ValueError, match="needs softmax_model"):
        LabelAccuracyEvaluator(DataLoader(mrpc_examples(4), batch_size=2))


# ----- MSEEvaluatorFromDataFrame --------------------------------------------------------------------------


def tatoeba_rows(count: int) -> list[dict[str, str]]:
    """Rows {"eng", "deu", "eng_fra", "fra"}: the first Tatoeba test pairs of German and of French."""
    folder, rows = DATA / "tatoeba", []
    lines = {
        column: (folder / f"tatoeba.{language}-eng.{suffix}").read_text(encoding="utf-8").splitlines()[:count]
        for column, language, suffix in [
            ("eng", "deu", "eng"),
            ("deu", "deu", "deu"),
            ("eng_fra", "fra", "eng"),
            ("fra", "fra", "fra"),
        ]
    }
    rows = [{column: values[i] for column, values in lines.items()} for i in range(count)]
    rows[3]["fra"] = "  "  # a blank cell drops that row from the French pair only
    return rows


@pytest.mark.parametrize("as_pandas", [False, True])
def test_mse_from_dataframe_matches_reference(minilm_l3, minilm_l6, as_pandas):
    from sentence_transformers.sentence_transformer.evaluation import MSEEvaluatorFromDataFrame as Reference

    rows = tatoeba_rows(30)
    combinations = [("eng", "deu"), ("eng_fra", "fra")]
    teacher, student = CachedEncoder(minilm_l6), CachedEncoder(minilm_l3)
    table = rows
    if as_pandas:
        pandas = pytest.importorskip("pandas")
        table = pandas.DataFrame(rows)
    evaluator = MSEEvaluatorFromDataFrame(table, teacher, combinations, name="tatoeba")
    ours = evaluator(student)
    random.seed(0)
    reference = Reference(rows, teacher, combinations, name="tatoeba")(student)
    assert ours == pytest.approx(reference, abs=STRICT_TOLERANCE)
    assert evaluator.primary_metric == "tatoeba_negative_mse"
    assert len(evaluator.data[("eng_fra", "fra")][0]) == 29 and len(evaluator.data[("eng", "deu")][0]) == 30
    assert ours["tatoeba_negative_mse"] < 0


def test_mse_from_dataframe_refuses_unknown_columns(minilm_l3):
    with pytest.raises(ValueError, match=r"columns \['ita'\] that the dataframe lacks"):
        MSEEvaluatorFromDataFrame(tatoeba_rows(5), minilm_l3, [("eng", "ita")])
    with pytest.raises(TypeError, match="a list of dicts or a pandas DataFrame"):
        MSEEvaluatorFromDataFrame("eng,deu", minilm_l3, [("eng", "deu")])


def damaged_copy(nano_folder, tmp_path, subset: str, change) -> tuple:
    """A copy of the NanoSciFact folder whose `subset` table went through `change(columns)`; and that file."""
    import shutil

    from datasets import Dataset

    folder = tmp_path / "NanoBEIR-en"
    shutil.copytree(nano_folder, folder)
    path = folder / subset / f"{NANO_SPLIT}-00000-of-00001.parquet"
    columns = Dataset.from_parquet(str(path)).to_dict()
    change(columns)
    Dataset.from_dict(columns).to_parquet(str(path))
    return folder, path


def _empty(columns):
    for values in columns.values():
        values.clear()


def _null_text(columns):
    columns["text"][3] = None


def _unknown_query(columns):
    columns["query-id"][2] = "no-such-query"


def _unknown_document(columns):
    columns["corpus-id"][4] = "no-such-document"


@pytest.mark.parametrize(
    ("subset", "change", "message"),
    [
        ("queries", _empty, r"NanoSciFact-00000-of-00001\.parquet has no rows"),
        ("corpus", _null_text, r"NanoSciFact-00000-of-00001\.parquet row 3: text is null"),
        ("qrels", _unknown_query, r"qrels/NanoSciFact-00000-of-00001\.parquet row 2: query-id 'no-such-query' is not"),
        ("qrels", _unknown_document, r"qrels/.*parquet row 4: corpus-id 'no-such-document' is not"),
    ],
)
def test_nano_beir_names_the_file_and_row_of_bad_local_data(nano_folder, tmp_path, subset, change, message):
    folder, _ = damaged_copy(nano_folder, tmp_path, subset, change)
    with pytest.raises(ValueError, match=message):
        NanoBEIREvaluator(["scifact"], dataset_folder=folder)


def test_nano_beir_names_a_malformed_local_file(nano_folder, tmp_path):
    folder, path = damaged_copy(nano_folder, tmp_path, "corpus", lambda columns: None)
    path.write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(OSError, match=r"corpus/NanoSciFact-00000-of-00001\.parquet could not be read"):
        NanoBEIREvaluator(["scifact"], dataset_folder=folder)
