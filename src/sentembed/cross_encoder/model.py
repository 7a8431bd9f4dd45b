"""`CrossEncoder`: reads a query and a passage together and scores how well they match."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sentembed import backend as backends
from sentembed.cross_encoder import layout
from sentembed.cross_encoder.classifier import Row, SequenceClassifier
from sentembed.cross_encoder.pairs import Pair, check_pairs, check_query_and_documents, check_top_k
from sentembed.loading.hub import push_saved_model
from sentembed.loading.model_card import write_model_card
from sentembed.loading.resolve import resolve_model_path
from sentembed.models.dense import activation_from_name
from sentembed.runtime import default_device, progress_bar_wanted
from sentembed.sentence_transformer.encoding import batch_budget, plan_batches

logger = logging.getLogger(__name__)

BACKENDS = backends.BACKENDS
HUB_ORGANIZATION = "cross-encoder"
Activation = Callable[[torch.Tensor], torch.Tensor]

CARD_TEMPLATE = """---
library_name: sentence-transformers
pipeline_tag: text-ranking
tags:
- sentence-transformers
- cross-encoder
- sentembed
---

# {title}

A cross-encoder saved by [sentembed](https://pypi.org/project/sentembed/) as a plain transformers
sequence-classification checkpoint. It reads two texts together and scores how well they match.

- Labels: {num_labels}
- Maximum sequence length: {max_length} tokens
- Activation: {activation}

## Usage

```python
from sentembed import CrossEncoder  # or: from sentence_transformers import CrossEncoder

model = CrossEncoder("{path}")
print(model.predict([("How many people live in Berlin?", "Berlin has about 3.7 million inhabitants.")]))
```
"""


class CrossEncoder(nn.Module):
    """Load a cross-encoder folder (classic or modular layout) and `predict` or `rank` text pairs.

    `model_name_or_path` may be a folder, a hub repository id, or a bare name such as
    "ms-marco-MiniLM-L6-v2" (meaning cross-encoder/ms-marco-MiniLM-L6-v2).
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Activation | str | None = None,
        device: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
    ) -> None:
        super().__init__()
        model_kwargs, backend_options = backends.split_model_kwargs(model_kwargs, backend)
        if num_labels is not None and (
            isinstance(num_labels, bool) or not isinstance(num_labels, int) or num_labels < 1
        ):
            raise ValueError(f"num_labels must be a positive integer or None, got {num_labels!r}")
        self.model_path = resolve_model_path(
            model_name_or_path, cache_folder, revision, token, local_files_only, organization=HUB_ORGANIZATION
        )
        folder = layout.read_folder(self.model_path)
        if folder.model_config and folder.model_config.get("prompts"):
            logger.warning("%s defines prompts; sentembed's CrossEncoder does not apply them.", self.model_path)
        config_kwargs = {**(config_kwargs or {}), **({"num_labels": num_labels} if num_labels is not None else {})}
        self.backend = backend
        self.classifier = SequenceClassifier.load(
            str(folder.checkpoint),
            cache_folder=cache_folder,
            trust_remote_code=trust_remote_code,
            local_files_only=local_files_only,
            token=token,
            model_kwargs=model_kwargs,
            tokenizer_kwargs=tokenizer_kwargs,
            config_kwargs=config_kwargs,
            backend=backend,
        )
        self.classifier = backends.use_backend([self.classifier], backend, backend_options, cache_folder)[0]
        if max_length is not None:
            self.max_length = max_length
        self.activation_fn = self._initial_activation(activation_fn, folder)
        self.to(device or default_device())

    def __setattr__(self, name: str, value: Any) -> None:
        # The activation is a plain attribute, not a registered submodule: it holds no weights.
        if name == "activation_fn":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _initial_activation(
        self, activation_fn: Activation | str | None, folder: layout.CrossEncoderFolder
    ) -> Activation:
        """The caller's activation, else the folder's, else Sigmoid for one label and Identity for several."""
        if activation_fn is not None:
            return as_activation(activation_fn)
        from_folder = folder.activation()
        if from_folder is not None:
            return from_folder
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    # ----- members -------------------------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        """The transformers sequence-classification model."""
        return self.classifier.auto_model

    @property
    def tokenizer(self) -> Any:
        return self.classifier.tokenizer

    @property
    def config(self) -> Any:
        return self.classifier.auto_model.config

    @property
    def num_labels(self) -> int:
        return self.classifier.num_labels

    @property
    def max_length(self) -> int:
        """Pairs longer than this many tokens are cut, the longer text first."""
        return self.classifier.max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.classifier.max_seq_length = value

    max_seq_length = max_length

    @property
    def device(self) -> torch.device:
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    # ----- scoring -------------------------------------------------------------------------------

    def predict(
        self,
        sentences: Pair | list[Pair],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | str | None = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
    ) -> np.ndarray | torch.Tensor | list[torch.Tensor] | np.floating:
        """Score each (a, b) pair: shape (n,) for one label, (n, num_labels) for several.

        A single pair gives a scalar (or a 1-D row for several labels). The activation is the
        model's unless `activation_fn` is given; `apply_softmax` then normalises several labels.
        """
        pairs, single = check_pairs(sentences)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        activation = self.activation_fn if activation_fn is None else as_activation(activation_fn)
        logits = self._logits(pairs, batch_size, show_progress_bar)
        scores = self._postprocess(logits, activation, apply_softmax)
        result = shape_scores(scores, convert_to_numpy, convert_to_tensor)
        return result[0] if single else result

    def _postprocess(self, logits: torch.Tensor, activation: Activation, apply_softmax: bool) -> torch.Tensor:
        """Activation, then one score per pair for a single label, then softmax across several labels."""
        with torch.inference_mode():
            scores = activation(logits.float())
            if self.num_labels == 1 and scores.dim() > 1:
                scores = scores.squeeze(-1)
            if apply_softmax and scores.dim() > 1:
                scores = torch.softmax(scores, dim=1)
        return scores

    @torch.inference_mode()
    def _logits(self, pairs: list[Pair], batch_size: int, show_progress_bar: bool | None) -> torch.Tensor:
        """Run the model over pairs in length-sorted batches; return logits in input order."""
        if not pairs:
            return torch.empty((0, self.num_labels), device=self.device)
        self.eval()
        rows = self._tokenize(pairs)
        device = self.device
        batches = plan_batches([len(row["input_ids"]) for row in rows], batch_size, batch_budget(device))
        parts = []
        with tqdm(total=len(pairs), desc="Scoring pairs", disable=not progress_bar_wanted(show_progress_bar)) as bar:
            for batch in batches:
                padded = self.classifier.pad([rows[index] for index in batch])
                parts.append(self.classifier.logits({name: tensor.to(device) for name, tensor in padded.items()}))
                bar.update(len(batch))
        order = torch.tensor([index for batch in batches for index in batch], device=device)
        stacked = torch.cat(parts)
        return torch.empty_like(stacked).index_copy_(0, order, stacked)

    def _tokenize(self, pairs: list[Pair]) -> list[Row]:
        rows, truncated = self.classifier.tokenize_pairs_unpadded(pairs)
        if truncated:
            logger.warning(
                "%d of %d pairs were longer than max_length=%d tokens and were cut, the longer text first.",
                truncated,
                len(pairs),
                self.max_length,
            )
        return rows

    def rank(
        self,
        query: str,
        documents: list[str],
        top_k: int | None = None,
        return_documents: bool = False,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | str | None = None,
    ) -> list[dict[str, Any]]:
        """Score `query` against every document; return `{"corpus_id", "score"[, "text"]}` best first."""
        documents = check_query_and_documents(query, documents)
        check_top_k(top_k)
        if self.num_labels != 1:
            raise ValueError(
                f"rank() needs a model with one label, this one has num_labels={self.num_labels}; "
                "use predict() on (query, document) pairs instead"
            )
        scores = self.predict(
            [(query, document) for document in documents],
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            activation_fn=activation_fn,
            convert_to_tensor=True,
        ).tolist()
        order = sorted(range(len(documents)), key=lambda index: scores[index], reverse=True)[:top_k]
        hits = [{"corpus_id": index, "score": scores[index]} for index in order]
        if return_documents:
            for hit in hits:
                hit["text"] = documents[hit["corpus_id"]]
        return hits

    # ----- saving --------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the classic layout: a transformers checkpoint whose config.json names the activation."""
        folder = Path(path)
        self.classifier.save_checkpoint(folder, safe_serialization=safe_serialization)
        saveable = layout.is_saveable_activation(self.activation_fn)
        if not saveable:
            logger.warning(
                "activation_fn %r is not in the allowlist and is not saved; loading %s gives the default activation.",
                self.activation_fn,
                folder,
            )
        layout.write_activation(folder, self.activation_fn if saveable else None)
        if create_model_card:
            write_model_card(folder, self._model_card(model_name or folder.name, model_name or str(folder)))

    save_pretrained = save

    def _model_card(self, title: str, path: str) -> str:
        return CARD_TEMPLATE.format(
            title=title,
            path=path,
            num_labels=self.num_labels,
            max_length=self.max_length,
            activation=type(self.activation_fn).__name__,
        )

    def push_to_hub(
        self,
        repo_id: str,
        token: str | None = None,
        private: bool | None = None,
        commit_message: str = "Add new sentembed cross-encoder",
        revision: str | None = None,
        create_pr: bool = False,
    ) -> str:
        """Save the model to a temporary folder and upload it to a hub repository; returns the commit URL."""
        return push_saved_model(
            lambda folder: self.save(folder, model_name=repo_id),
            repo_id,
            token=token,
            private=private,
            commit_message=commit_message,
            revision=revision,
            create_pr=create_pr,
        )


def as_activation(activation_fn: Activation | str) -> Activation:
    """A callable as it is; a name (such as "torch.nn.modules.activation.Sigmoid") through the allowlist."""
    if isinstance(activation_fn, str):
        return activation_from_name(activation_fn)
    if not callable(activation_fn):
        raise TypeError(f"activation_fn must be callable or an activation name, got {type(activation_fn).__name__}")
    return activation_fn


def shape_scores(
    scores: torch.Tensor, convert_to_numpy: bool, convert_to_tensor: bool
) -> np.ndarray | torch.Tensor | list[torch.Tensor]:
    """One tensor, a numpy array, or a list of per-pair tensors, as the caller asked."""
    if convert_to_tensor:
        return scores
    if convert_to_numpy:
        return scores.cpu().numpy()
    return list(scores)
