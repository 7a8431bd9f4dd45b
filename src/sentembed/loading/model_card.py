"""The model card (README.md) written beside every saved model: one renderer for both model kinds.

Each card is YAML front matter (written from the model's card data: library, pipeline tag, tags, language,
licence, base model, datasets, widget examples, evaluation results), a title, a short description, a list of
facts, optional sections (training adds its own), and a usage example.
"""

from __future__ import annotations

import copy
from pathlib import Path

from sentembed.loading.card_data import (
    CrossEncoderModelCardData,
    ModelCardDataBase,
    SentenceTransformerModelCardData,
)

BI_ENCODER_USAGE = """```python
from sentembed import SentenceTransformer  # or: from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{path}")
embeddings = model.encode(["The weather is lovely today.", "It's so sunny outside!"])
print(model.similarity(embeddings, embeddings))
```"""

CROSS_ENCODER_USAGE = """```python
from sentembed import CrossEncoder  # or: from sentence_transformers import CrossEncoder

model = CrossEncoder("{path}")
print(model.predict([("How many people live in Berlin?", "Berlin has about 3.7 million inhabitants.")]))
```"""


def render_card(
    card_data: ModelCardDataBase,
    title: str,
    description: str,
    facts: list[str],
    sections: dict[str, str],
    usage: str,
) -> str:
    """A card from its parts; `sections` maps headings to markdown bodies, shown before the usage."""
    text = f"---\n{card_data.to_yaml()}\n---\n"
    facts = [*facts, *card_data.details()]
    text += f"\n# {card_data.model_name or title}\n\n{description}\n\n" + "".join(f"- {fact}\n" for fact in facts)
    evaluation = card_data.evaluation_table()
    if evaluation and "Evaluation results" not in sections:
        sections = {**sections, "Evaluation": evaluation}
    for heading, body in {**sections, "Usage": usage}.items():
        text += f"\n## {heading}\n\n{body}\n"
    return text


def with_datasets(card_data: ModelCardDataBase, train_datasets: list[str] | None) -> ModelCardDataBase:
    """A copy of the card data naming `train_datasets`, unless it names its own."""
    card_data = copy.deepcopy(card_data)
    card_data.set_train_datasets(list(train_datasets or []))
    return card_data


def render_model_card(
    title: str,
    path: str,
    dimension: int | None,
    max_seq_length: int | None,
    similarity: str | None,
    architecture: str,
    train_datasets: list[str] | None = None,
    extra_sections: dict[str, str] | None = None,
    card_data: SentenceTransformerModelCardData | None = None,
) -> str:
    """The README.md text for a saved bi-encoder."""
    facts = [
        f"Maximum sequence length: {max_seq_length} tokens",
        f"Embedding dimension: {dimension}",
        f"Similarity function: {similarity or 'cosine'}",
    ]
    return render_card(
        with_datasets(card_data or SentenceTransformerModelCardData(), train_datasets),
        title,
        "A sentence embedding model saved by [sentembed](https://pypi.org/project/sentembed/) in the standard\n"
        f"sentence-transformers folder format. It maps text to a {dimension}-dimensional vector.",
        facts,
        {**(extra_sections or {}), "Architecture": f"```\n{architecture}\n```"},
        BI_ENCODER_USAGE.format(path=path),
    )


def render_cross_encoder_card(
    title: str,
    path: str,
    num_labels: int,
    max_length: int,
    activation: str,
    train_datasets: list[str] | None = None,
    card_data: CrossEncoderModelCardData | None = None,
) -> str:
    """The README.md text for a saved cross-encoder."""
    facts = [f"Labels: {num_labels}", f"Maximum sequence length: {max_length} tokens", f"Activation: {activation}"]
    return render_card(
        with_datasets(card_data or CrossEncoderModelCardData(), train_datasets),
        title,
        "A cross-encoder saved by [sentembed](https://pypi.org/project/sentembed/) as a plain transformers\n"
        "sequence-classification checkpoint. It reads two texts together and scores how well they match.",
        facts,
        {},
        CROSS_ENCODER_USAGE.format(path=path),
    )


def write_model_card(folder: Path, text: str) -> None:
    (folder / "README.md").write_text(text, encoding="utf-8")
