"""LabelAccuracyEvaluator, MSEEvaluatorFromDataFrame and NanoBEIREvaluator against sentence-transformers 6.2 on
the same inputs (scores within 1e-6), NanoBEIR read from a local folder in the hub's layout."""

from __future__ import annotations

import random

import pytest
import torch
from torch.utils.data import DataLoader

from sentembed.evaluation import LabelAccuracyEvaluator, MSEEvaluatorFromDataFrame, NanoBEIREvaluator
from sentembed.training.input_example import InputExample
from tests.support.data import read_beir, read_mrpc
from tests.support.paths import DATA
from tests.training.evaluation.test_evaluators import CachedEncoder

TOLERANCE = 1e-6
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


class EvalCachedEncoder(CachedEncoder):
    """CachedEncoder for evaluators that call model.eval() first."""

    def eval(self):
        return self


@pytest.fixture(scope="module")
def cached_l3(minilm_l3):
    return EvalCachedEncoder(minilm_l3)


def test_nano_beir_from_a_local_folder_matches_reference(nano_folder, cached_l3):
    from sentence_transformers.sentence_transformer.evaluation import NanoBEIREvaluator as Reference

    ours_evaluator = NanoBEIREvaluator(["scifact"], dataset_folder=nano_folder, ndcg_at_k=[5, 10])
    ours = ours_evaluator(cached_l3)
    # The reference reads the same folder through datasets.load_dataset (its README names the subsets).
    reference_evaluator = Reference(["scifact"], dataset_id=str(nano_folder), ndcg_at_k=[5, 10])
    reference = reference_evaluator(cached_l3)
    assert set(ours) == set(reference)
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=TOLERANCE), key
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
        assert value == pytest.approx(reference[key], abs=TOLERANCE), key
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
    assert ours == pytest.approx(reference, abs=TOLERANCE)
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
    teacher, student = EvalCachedEncoder(minilm_l6), EvalCachedEncoder(minilm_l3)
    table = rows
    if as_pandas:
        pandas = pytest.importorskip("pandas")
        table = pandas.DataFrame(rows)
    evaluator = MSEEvaluatorFromDataFrame(table, teacher, combinations, name="tatoeba")
    ours = evaluator(student)
    random.seed(0)
    reference = Reference(rows, teacher, combinations, name="tatoeba")(student)
    assert ours == pytest.approx(reference, abs=TOLERANCE)
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
