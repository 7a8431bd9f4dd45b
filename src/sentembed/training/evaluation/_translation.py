"""TranslationEvaluator: is each sentence's nearest translation its true one?"""

from __future__ import annotations

import torch

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import cos_sim
from sentembed.training.evaluation._base import SentenceEvaluator, check_same_length


class TranslationEvaluator(SentenceEvaluator):
    """Accuracy of finding the parallel sentence by cosine similarity, source to target and back.

    Args:
        source_sentences: Sentences in one language.
        target_sentences: Their translations, in the same order.
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per `encode` batch. Default 16.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        print_wrong_matches: Log each sentence whose nearest neighbour is not its translation. Default False.
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        print_wrong_matches: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(source_sentences=source_sentences, target_sentences=target_sentences)
        self.source_sentences, self.target_sentences = list(source_sentences), list(target_sentences)
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.truncate_dim = truncate_dim
        self.primary_metric = "mean_accuracy"

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        options = dict(batch_size=self.batch_size, show_progress_bar=self.show_progress_bar, convert_to_tensor=True)
        source = model.encode(self.source_sentences, truncate_dim=self.truncate_dim, **options)
        target = model.encode(self.target_sentences, truncate_dim=self.truncate_dim, **options)
        scores = cos_sim(source, target).cpu()
        truth = torch.arange(len(scores))
        source_to_target = float((scores.argmax(dim=1) == truth).float().mean())
        target_to_source = float((scores.argmax(dim=0) == truth).float().mean())
        metrics = {
            "src2trg_accuracy": source_to_target,
            "trg2src_accuracy": target_to_source,
            "mean_accuracy": (source_to_target + target_to_source) / 2,
        }
        self.save_csv(output_path, epoch, steps, metrics)
        return self.prefix_name_to_metrics(metrics)
