"""Listwise cross-encoder training on WikiQA: WikiQA test MAP before and after.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_listwise_wikiqa.py [--loss LambdaLoss] [--epochs 1]
Starts from the paraphrase-MiniLM-L3-v2 checkpoint with a fresh 1-label head. Each training row is one WikiQA
train question with at least one right and one wrong candidate: (question, [candidates...], [labels...]), lists of
unequal length. MAP is CrossEncoderRerankingEvaluator's, over the WikiQA test questions with a right answer.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WIKIQA = SHARED / "data" / "wikiqa"
START = SHARED / "models" / "paraphrase-MiniLM-L3-v2"
SENTENCE_TRANSFORMERS_FILES = {
    "modules.json",
    "1_Pooling",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "README.md",
}


def read_questions(split: str) -> dict[str, tuple[list[str], list[int]]]:
    """question -> (candidate sentences, 0/1 labels), in file order."""
    questions: dict[str, tuple[list[str], list[int]]] = {}
    with open(WIKIQA / f"WikiQA-{split}.txt", encoding="utf-8") as handle:
        for question, sentence, label in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            documents, labels = questions.setdefault(question, ([], []))
            documents.append(sentence)
            labels.append(int(label))
    return questions


def plain_checkpoint(target: Path) -> Path:
    """The bi-encoder's transformer checkpoint without its sentence-transformers files (a fresh head follows)."""
    target.mkdir()
    for item in START.iterdir():
        if item.name not in SENTENCE_TRANSFORMERS_FILES:
            shutil.copy(item, target / item.name)
    return target


def test_map(model) -> float:
    from sentembed.training.cross_encoder.evaluation import CrossEncoderRerankingEvaluator

    samples = [
        {
            "query": question,
            "positive": [doc for doc, label in zip(docs, labels, strict=True) if label],
            "negative": [doc for doc, label in zip(docs, labels, strict=True) if not label],
        }
        for question, (docs, labels) in read_questions("test").items()
        if any(labels)
    ]
    return CrossEncoderRerankingEvaluator(samples, name="wikiqa", batch_size=64)(model)["wikiqa_map"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loss", default="LambdaLoss")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=8, help="questions per batch")
    parser.add_argument("--lr", type=float, default=5e-5)
    options = parser.parse_args()

    import torch
    from datasets import Dataset

    from sentembed import CrossEncoder, CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentembed.cross_encoder import losses

    torch.manual_seed(42)
    rows = [(q, docs, labels) for q, (docs, labels) in read_questions("train").items() if 0 < sum(labels) < len(labels)]
    train = Dataset.from_dict(
        {
            "query": [r[0] for r in rows],
            "docs": [r[1] for r in rows],
            "labels": [[float(x) for x in r[2]] for r in rows],
        }
    ).rename_column("labels", "label")
    with tempfile.TemporaryDirectory() as folder:
        model = CrossEncoder(str(plain_checkpoint(Path(folder) / "start")), num_labels=1, device="cpu")
        before = test_map(model)
        pairs = sum(len(r[1]) for r in rows)
        print(f"{len(rows)} training questions, {pairs} pairs; test MAP before: {before:.4f}", flush=True)
        args = CrossEncoderTrainingArguments(
            output_dir=str(Path(folder) / "out"),
            num_train_epochs=options.epochs,
            per_device_train_batch_size=options.batch_size,
            learning_rate=options.lr,
            warmup_steps=0.1,
            seed=42,
            save_strategy="no",
            report_to="none",
            logging_steps=25,
            disable_tqdm=True,
        )
        loss = getattr(losses, options.loss)(model)
        trainer = CrossEncoderTrainer(model=model, args=args, train_dataset=train, loss=loss)
        start = time.perf_counter()
        trainer.train()
        minutes = (time.perf_counter() - start) / 60
        after = test_map(model)
    steps = trainer.state.global_step
    print(
        f"{options.loss}: {steps} steps in {minutes:.1f} min; WikiQA test MAP {before:.4f} -> {after:.4f}", flush=True
    )


if __name__ == "__main__":
    main()
