"""A short model card (README.md) written beside every saved model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CARD_TEMPLATE = """---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
tags:
- sentence-transformers
- sentence-similarity
- feature-extraction
- sentembed
---

# {title}

A sentence embedding model saved by [sentembed](https://pypi.org/project/sentembed/) in the standard
sentence-transformers folder format. It maps text to a {dimension}-dimensional vector.

- Maximum sequence length: {max_seq_length} tokens
- Embedding dimension: {dimension}
- Similarity function: {similarity}
{extra}
## Architecture

```
{architecture}
```

## Usage

```python
from sentembed import SentenceTransformer  # or: from sentence_transformers import SentenceTransformer

model = SentenceTransformer("{path}")
embeddings = model.encode(["The weather is lovely today.", "It's so sunny outside!"])
print(model.similarity(embeddings, embeddings))
```
"""


def render_model_card(
    title: str,
    path: str,
    dimension: int | None,
    max_seq_length: int | None,
    similarity: str | None,
    architecture: str,
    train_datasets: list[str] | None = None,
    extra_sections: dict[str, Any] | None = None,
) -> str:
    """The README.md text for a saved model."""
    extra = ""
    if train_datasets:
        extra += "- Training data: " + ", ".join(train_datasets) + "\n"
    for heading, body in (extra_sections or {}).items():
        extra += f"\n## {heading}\n\n{body}\n"
    return CARD_TEMPLATE.format(
        title=title,
        path=path,
        dimension=dimension,
        max_seq_length=max_seq_length,
        similarity=similarity or "cosine",
        architecture=architecture,
        extra=extra,
    )


def write_model_card(folder: Path, text: str) -> None:
    (folder / "README.md").write_text(text, encoding="utf-8")
