"""The README body written beside a saved model: details, a usage snippet that runs, evaluation tables, training
details (datasets with statistics and samples, losses, hyperparameters, logs), versions and citations."""

from __future__ import annotations

import copy
import re

import pytest
import torch
import transformers

from sentembed import CrossEncoder, SentenceTransformer
from sentembed.model_card import BaseModelCardData, generate_model_card
from tests.support.data import read_sts
from tests.support.paths import CROSS_ENCODER, MINILM_L3

datasets = pytest.importorskip("datasets")


def snippet_of(card: str) -> str:
    """The Python code of the card's usage section."""
    return re.search(r"### Direct Usage.*?```python\n(.*?)```", card, re.S).group(1)


def run_snippet(card: str) -> dict:
    namespace: dict = {}
    exec(snippet_of(card), namespace)  # the card's own example, run as a reader would
    return namespace


def commented_matrix(snippet: str) -> torch.Tensor:
    """The similarity matrix the snippet shows in its comments."""
    numbers = re.findall(r"-?\d+\.\d+", snippet.split("print(similarities)")[1])
    return torch.tensor([float(number) for number in numbers])


@pytest.fixture
def l3(minilm_l3):
    """A copy of the session's L3, so that what a test writes into its card data stays in the test."""
    return copy.deepcopy(minilm_l3)


def sts_dataset(count: int):
    first, second, scores = read_sts("train")
    return datasets.Dataset.from_dict(
        {"sentence1": first[:count], "sentence2": second[:count], "score": [s / 5 for s in scores[:count]]}
    )


@pytest.fixture(scope="module")
def trained_card(tmp_path_factory):
    """A short run of L3 on 32 STSb pairs named "stsb", evaluated on 40 dev pairs every 2 steps."""
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.evaluation import EmbeddingSimilarityEvaluator
    from sentembed.losses import CoSENTLoss

    folder = tmp_path_factory.mktemp("trained")
    first, second, scores = read_sts("dev")
    evaluator = EmbeddingSimilarityEvaluator(first[:40], second[:40], [s / 5 for s in scores[:40]], name="sts-dev")
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(folder / "run"),
        per_device_train_batch_size=16,
        max_steps=4,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=2,
        report_to=[],
        save_strategy="no",
        disable_tqdm=True,
    )
    train = {"stsb": sts_dataset(32)}
    trainer = SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=CoSENTLoss(model), evaluator=evaluator
    )
    trainer.train()
    metrics = evaluator(model)
    trainer.save_model(str(folder / "out"))
    return model, metrics, (folder / "out" / "README.md").read_text()


def test_a_trained_card_has_every_section_in_order(trained_card):
    _, _, card = trained_card
    headings = [
        "## Model Details",
        "### Model Description",
        "### Full Model Architecture",
        "## Usage",
        "## Evaluation",
        "## Training Details",
        "### Training Dataset",
        "### Training Hyperparameters",
        "### Training Logs",
        "### Training Time",
        "### Framework Versions",
        "## Citation",
    ]
    positions = [card.index(f"\n{heading}\n") for heading in headings]
    assert positions == sorted(positions)
    assert "\n\n\n" not in card
    assert f"- Transformers: {transformers.__version__}" in card and f"- PyTorch: {torch.__version__}" in card
    assert "@inproceedings{reimers-2019-sentence-bert" in card


def test_a_trained_card_describes_the_dataset_and_loss(trained_card):
    model, _, card = trained_card
    first, _, _ = read_sts("train")
    tokens = [len(ids) for ids in model.tokenizer(first[:32], truncation=True, max_length=128)["input_ids"]]
    section = card.split("#### stsb")[1].split("### Training Hyperparameters")[0]
    assert "* Size: 32 training samples" in section
    assert "<code>sentence1</code>, <code>sentence2</code> and <code>score</code>" in section
    assert f"<li>min: {min(tokens)} tokens</li>" in section and f"<li>max: {max(tokens)} tokens</li>" in section
    assert f"| {first[0]} |" in section, "the samples table shows the first rows"
    assert "CoSENTLoss` with these parameters" in section and '"scale": 20.0' in section


def test_a_trained_card_records_metrics_hyperparameters_and_logs(trained_card):
    _, metrics, card = trained_card
    assert f"| **spearman_cosine** | **{metrics['sts-dev_spearman_cosine']:.4f}** |" in card
    assert "- `per_device_train_batch_size`: 16" in card.split("#### All Hyperparameters")[0]
    logs = card.split("### Training Logs")[1].split("###")[0]
    header = logs.strip().splitlines()[0]
    assert "Training Loss" in header and "sts-dev_spearman_cosine" in header
    assert len([line for line in logs.splitlines() if re.match(r"\| [\d.]+ \| \d \|", line)]) == 4


def test_the_usage_snippet_runs_and_shows_what_the_model_computes(tmp_path):
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    model.model_card_data.model_id = str(tmp_path)
    model.model_card_data.usage_examples = texts
    model.save(str(tmp_path))
    card = (tmp_path / "README.md").read_text()
    namespace = run_snippet(card)
    expected = model.similarity(model.encode(texts), model.encode(texts))
    torch.testing.assert_close(namespace["similarities"], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(commented_matrix(snippet_of(card)), expected.flatten(), atol=1e-4, rtol=0)
    assert "# [3, 384]" in snippet_of(card)


def test_a_retrieval_evaluation_makes_a_query_document_snippet(tmp_path):
    from sentembed.evaluation import InformationRetrievalEvaluator

    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    corpus = {"d1": "Berlin is the capital of Germany.", "d2": "Cats sleep most of the day."}
    evaluator = InformationRetrievalEvaluator({"q1": "What is Germany's capital?"}, corpus, {"q1": {"d1"}}, name="mini")
    evaluator(model)
    data = model.model_card_data
    data.model_id = str(tmp_path)
    data.usage_examples = ["What is Germany's capital?", *corpus.values()]
    model.save(str(tmp_path))
    card = (tmp_path / "README.md").read_text()
    assert data.ir_model is True
    namespace = run_snippet(card)
    assert "model.encode_query(queries)" in card and "model.encode_document(documents)" in card
    assert namespace["similarities"].shape == (1, 2)
    assert namespace["similarities"][0, 0] > namespace["similarities"][0, 1]


def test_a_cross_encoder_card_snippet_predicts_and_ranks(tmp_path):
    from sentembed.training.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    query = "How many people live in Berlin?"
    pairs = [[query, "Berlin has about 3.7 million inhabitants."], [query, "Cats sleep most of the day."]]
    model.model_card_data.model_id = str(tmp_path)
    model.model_card_data.usage_examples = pairs
    samples = [{"query": query, "positive": [pairs[0][1]], "negative": [pairs[1][1]]}]
    metrics = CrossEncoderRerankingEvaluator(samples, name="berlin")(model)
    model.save(str(tmp_path))
    card = (tmp_path / "README.md").read_text()
    assert "pipeline_tag: text-ranking" in card and "- **Number of Output Labels:** 1 label" in card
    assert "#### Cross Encoder Reranking" in card and "type: cross-encoder-reranking" in card
    assert f"| map | {metrics['berlin_map']:.4f} |" in card
    namespace = run_snippet(card)
    torch.testing.assert_close(
        torch.as_tensor(namespace["scores"]), torch.as_tensor(model.predict(pairs)), atol=1e-5, rtol=0
    )
    assert [hit["corpus_id"] for hit in namespace["ranks"]] == [0, 1]


def test_dataset_statistics_for_each_kind_of_column(l3):
    from PIL import Image

    images = [Image.new("RGB", (side, side)) for side in (16, 32, 48, 64, 80)]
    texts = ["one", "two words", "three little words", "four words in total", "a sentence of six words"]
    dataset = datasets.Dataset.from_dict(
        {
            "text": texts,
            "label": [0, 1, 1, 0, 1],
            "score": [0.25, 0.5, 0.75, 1.0, 0.0],
            "ids": [[1], [1, 2], [1, 2, 3], [1], [1]],
            "image": images,
        }
    ).cast_column("image", datasets.Image())
    splits = datasets.DatasetDict({"train": dataset, "test": dataset.select([0])})
    info = l3.model_card_data.compute_dataset_metrics(splits, {"name": "mixed"}, loss=object())
    stats = info["stats"]
    tokens = [len(ids) for ids in l3.tokenizer(texts)["input_ids"]]
    assert stats["text"]["data"]["min"] == f"{min(tokens)} tokens" and stats["text"]["modality"] == "text"
    assert stats["label"]["data"] == {0: "40.00%", 1: "60.00%"}
    assert stats["score"]["data"] == {"min": 0.0, "mean": 0.5, "max": 1.0}
    assert stats["ids"]["data"] == {"min": "1 elements", "mean": "1.60 elements", "max": "3 elements"}
    assert (stats["image"]["dtype"], stats["image"]["data"]["min"], stats["image"]["data"]["max"]) == (
        "image",
        "16x16 px",
        "80x80 px",
    )
    assert info["size"] == 5 and info["loss"] == {"fullname": "builtins.object"}
    assert "<code>image 16x16</code>" in info["examples_table"], "without a folder an image is described"


def test_image_examples_are_saved_once_and_linked_on_the_hub(tmp_path):
    from PIL import Image

    red, blue = Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))
    data = BaseModelCardData(model_id="someone/picture-model")
    data.save_dir = str(tmp_path)
    data.usage_examples = [red, {"text": "a blue square", "image": blue}, red.copy()]
    data.save_usage_example_assets()
    assert data.usage_examples_display == [
        "assets/image_0.jpg",
        {"text": "a blue square", "image": "assets/image_1.jpg"},
        "assets/image_0.jpg",
    ]
    assert sorted(path.name for path in (tmp_path / "assets").iterdir()) == ["image_0.jpg", "image_1.jpg"]
    assert Image.open(tmp_path / "assets" / "image_1.jpg").getpixel((4, 4))[2] > 200
    snippet = data.generate_usage_snippet()
    assert "'https://huggingface.co/someone/picture-model/resolve/main/assets/image_1.jpg'" in snippet
    assert "model.encode(inputs)" in snippet


def test_example_tables_link_saved_images_on_the_hub(l3, tmp_path):
    from PIL import Image

    dataset = datasets.Dataset.from_dict(
        {"caption": ["red", "green"], "image": [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (9, 9))]}
    ).cast_column("image", datasets.Image())
    data = l3.model_card_data
    data.model_id = "someone/captions"
    data.train_datasets = [l3.model_card_data.compute_dataset_metrics(dataset, {"name": "pics"}, object())]
    data.save_dir = str(tmp_path)
    card = generate_model_card(l3)
    assert 'src="https://huggingface.co/someone/captions/resolve/main/assets/example_image_0.jpg"' in card
    assert 'src="assets/' not in card and (tmp_path / "assets" / "example_image_1.jpg").is_file()


def test_widget_examples_come_from_transformed_rows_and_survive_a_broken_transform(caplog):
    ids = datasets.Dataset.from_dict({"pair_id": [3, 1, 2]})
    ids.set_transform(
        lambda batch: {
            "a": [f"question {i}" for i in batch["pair_id"]],
            "b": [f"answer {i}" * i for i in batch["pair_id"]],
        }
    )
    data = BaseModelCardData()
    data.set_widget_examples(ids)
    assert data.widget[0] == {"source_sentence": "question 3", "sentences": ["answer 3answer 3answer 3"]}
    assert data.usage_examples[:2] == ["question 3", "answer 3answer 3answer 3"]

    def broken(batch):
        raise KeyError("no such id")

    ids.set_transform(broken)
    fresh = BaseModelCardData()
    fresh.set_widget_examples(ids)
    assert fresh.widget == [] and fresh.usage_examples is None
    assert "Could not read example rows" in caplog.text


def test_a_cross_encoder_trainer_card_uses_the_training_pairs(tmp_path):
    from sentembed import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentembed.training.cross_encoder.losses import BinaryCrossEntropyLoss

    questions = ["Who wrote Faust?", "Where is Lyon?", "What do cats eat?", "How tall is Everest?"]
    answers = ["Goethe wrote Faust.", "Lyon is in France.", "Cats eat meat.", "Everest is 8849 m tall."]
    train = datasets.Dataset.from_dict({"question": questions, "answer": answers, "label": [1, 1, 0, 1]})
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    model.model_card_data.model_id = str(tmp_path / "out")
    args = CrossEncoderTrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, report_to=[], save_strategy="no"
    )
    CrossEncoderTrainer(model=model, args=args, train_dataset=train, loss=BinaryCrossEntropyLoss(model)).train()
    model.save(str(tmp_path / "out"))
    card = (tmp_path / "out" / "README.md").read_text()
    assert "* Size: 4 training samples" in card and "BinaryCrossEntropyLoss`" in card
    assert "<li>0: 25.00%</li><li>1: 75.00%</li>" in card
    namespace = run_snippet(card)
    assert namespace["pairs"][0] == ["Who wrote Faust?", "Goethe wrote Faust."]
    torch.testing.assert_close(
        torch.as_tensor(namespace["scores"]), torch.as_tensor(model.predict(namespace["pairs"])), atol=1e-5, rtol=0
    )


def test_a_column_of_mixed_values_gets_its_type_only(l3, caplog):
    rows = [{"text": "a sentence", "mixed": "words"}, {"text": "another one", "mixed": 3}]
    info = l3.model_card_data.compute_dataset_metrics(rows, {"name": "rows"}, loss=object())
    assert info["stats"]["mixed"] == {"dtype": "builtins.str", "modality": "", "data": {}}
    assert info["stats"]["text"]["data"]["max"] == "4 tokens"  # [CLS] another one [SEP]
    assert "No statistics for column 'mixed'" in caplog.text


def test_an_unchanged_model_keeps_the_readme_it_was_loaded_with(tmp_path):
    SentenceTransformer(str(MINILM_L3), device="cpu").save(str(tmp_path / "first"))
    readme = (tmp_path / "first" / "README.md").read_text() + "\nNotes written by hand.\n"
    (tmp_path / "first" / "README.md").write_text(readme)
    loaded = SentenceTransformer(str(tmp_path / "first"), device="cpu")
    loaded.save(str(tmp_path / "again"))
    assert (tmp_path / "again" / "README.md").read_text() == readme
    loaded.save(str(tmp_path / "named"), model_name="someone/l3")
    assert 'SentenceTransformer("someone/l3")' in (tmp_path / "named" / "README.md").read_text()

    loaded.model_card_data.add_tags("edited")
    loaded.save(str(tmp_path / "edited"))
    edited = (tmp_path / "edited" / "README.md").read_text()
    assert "- edited\n" in edited and "Notes written by hand." not in edited


def test_a_model_with_a_query_prompt_gets_a_query_document_snippet(tmp_path):
    model = SentenceTransformer(str(MINILM_L3), device="cpu", prompts={"query": "query: "})
    model.model_card_data.model_id = str(tmp_path)
    texts = ["Where do pandas live?", "Pandas live in the mountains of China.", "Paris is in France."]
    model.model_card_data.usage_examples = texts
    model.save(str(tmp_path))
    namespace = run_snippet((tmp_path / "README.md").read_text())
    expected = model.similarity(model.encode_query(texts[:1]), model.encode_document(texts[1:]))
    torch.testing.assert_close(namespace["similarities"], expected, atol=1e-5, rtol=0)


def test_an_image_model_card_shows_saved_images_its_snippet_can_load(tmp_path):
    """A tiny RANDOMLY initialised CLIP (mechanics only): image usage examples come from the image column."""
    from tests.support.clip import build_random_clip, random_images

    build_random_clip(tmp_path / "clip")
    model = SentenceTransformer(str(tmp_path / "clip"), device="cpu")
    images = random_images(4)
    pictures = datasets.Dataset.from_dict({"caption": ["red", "green", "blue", "red again"], "image": images})
    model.model_card_data.set_widget_examples(pictures.cast_column("image", datasets.Image()))
    assert [image.size for image in model.model_card_data.usage_examples] == [image.size for image in images[:3]]
    model.model_card_data.model_id = str(tmp_path / "saved")
    model.save(str(tmp_path / "saved"))
    assert sorted(path.name for path in (tmp_path / "saved" / "assets").iterdir()) == [
        "image_0.jpg",
        "image_1.jpg",
        "image_2.jpg",
    ]
    namespace = run_snippet((tmp_path / "saved" / "README.md").read_text())
    saved = [namespace["load_image"](str(tmp_path / "saved" / "assets" / f"image_{i}.jpg")) for i in range(3)]
    expected = model.similarity(model.encode(saved), model.encode(saved))
    torch.testing.assert_close(namespace["similarities"], expected, atol=1e-5, rtol=0)


def test_the_kept_checkpoint_is_bold_in_the_training_logs(l3):
    from types import SimpleNamespace

    from sentembed.training.model_card import ModelCardCallback, training_log_rows

    history = [
        {"loss": 0.9, "epoch": 0.5, "step": 2},
        {"eval_loss": 0.7, "eval_runtime": 1.0, "epoch": 0.5, "step": 2},
        {"loss": 0.5, "epoch": 1.0, "step": 4},
        {"eval_loss": 0.8, "epoch": 1.0, "step": 4},
        {"train_runtime": 65.2, "train_loss": 0.7, "epoch": 1.0, "step": 4},
    ]
    state = SimpleNamespace(log_history=history, best_model_checkpoint="out/checkpoint-2")
    callback = ModelCardCallback(fill=lambda: None)
    callback.on_log(None, state, None, model=l3)
    callback.on_train_end(SimpleNamespace(load_best_model_at_end=True), state, None, model=l3)
    assert training_log_rows(history)[0] == {"epoch": 0.5, "step": 2, "Training Loss": 0.9, "Validation Loss": 0.7}
    card = generate_model_card(l3)
    assert "| **0.5** | **2** | **0.9000** | **0.7000** |" in card and "| 1 | 4 | 0.5000 | 0.8000 |" in card
    assert "### Training Time\n\n- Training: 1 min 5 s" in card


def test_token_statistics_of_a_static_embedding_model():
    """A StaticEmbedding with RANDOM vectors (only its tokenizer matters here)."""
    from tokenizers import Tokenizer

    from sentembed.models import StaticEmbedding

    tokenizer = Tokenizer.from_file(str(MINILM_L3 / "tokenizer.json"))
    model = SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_dim=8)], device="cpu")
    texts = ["tokenization", "a few short words here"]
    info = model.model_card_data.compute_dataset_metrics(
        datasets.Dataset.from_dict({"text": texts}), {"name": "static"}, object()
    )
    counts = [len(tokenizer.encode(text, add_special_tokens=False).ids) for text in texts]
    assert info["stats"]["text"]["data"]["min"] == f"{min(counts)} tokens"
    assert info["stats"]["text"]["data"]["max"] == f"{max(counts)} tokens"


def test_a_dataset_from_the_hub_cache_is_linked_by_its_id(tmp_path):
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import MultipleNegativesRankingLoss

    first, second, _ = read_sts("train")
    datasets.Dataset.from_dict({"anchor": first[:8], "positive": second[:8]}).save_to_disk(str(tmp_path / "saved"))
    cached = tmp_path / "hf" / "someone___pairs" / "default" / "0.0.0" / "0123456789abcdef"
    cached.mkdir(parents=True)
    (cached / "pairs-train.arrow").write_bytes(next((tmp_path / "saved").glob("*.arrow")).read_bytes())
    train = datasets.Dataset.from_file(str(cached / "pairs-train.arrow"))
    model = SentenceTransformer(str(MINILM_L3), device="cpu")
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "run"), max_steps=1, per_device_train_batch_size=4, report_to=[], save_strategy="no"
    )
    SentenceTransformerTrainer(
        model=model, args=args, train_dataset=train, loss=MultipleNegativesRankingLoss(model)
    ).train()
    model.save(str(tmp_path / "out"))
    card = (tmp_path / "out" / "README.md").read_text()
    assert "datasets:\n- someone/pairs\n" in card
    link = "[someone/pairs](https://huggingface.co/datasets/someone/pairs)"
    assert (
        f"* Dataset: {link} at [0123456](https://huggingface.co/datasets/someone/pairs/tree/0123456789abcdef)" in card
    )


def test_audio_and_video_columns_get_durations_and_frame_counts(l3):
    import numpy as np

    rows = [
        {
            "clip": {"array": np.zeros(8000), "sampling_rate": 16000},
            "video": {"array": np.zeros((4, 3, 8, 8), dtype=np.uint8), "video_metadata": {"fps": 24}},
        },
        {
            "clip": {"array": np.zeros(48000), "sampling_rate": 16000},
            "video": {"array": np.zeros((10, 3, 8, 8), dtype=np.uint8), "video_metadata": {"fps": 24}},
        },
    ]
    stats = l3.model_card_data.compute_dataset_metrics(rows, {"name": "media"}, object())["stats"]
    assert stats["clip"] == {
        "dtype": "audio",
        "modality": "audio",
        "data": {"min": "0.50s", "mean": "1.75s", "max": "3.00s", "sampling_rate": "16000 Hz"},
    }
    assert stats["video"]["data"] == {"min": "4 frames", "mean": "7 frames", "max": "10 frames", "fps": "24"}


def test_a_card_names_our_loss_by_its_public_path_without_the_private_module():
    from sentembed.loading._card_data import qualified_class_name
    from sentembed.training.losses import MultipleNegativesRankingLoss

    loss = MultipleNegativesRankingLoss.__new__(MultipleNegativesRankingLoss)
    assert MultipleNegativesRankingLoss.__module__ == "sentembed.training.losses._ranking"
    assert qualified_class_name(loss) == "sentembed.training.losses.MultipleNegativesRankingLoss"
