"""Short training runs of the layer and unsupervised losses on paraphrase-MiniLM-L3-v2 (CPU), before/after.

- adaptive:     AdaptiveLayerLoss(CoSENTLoss) on STSb train pairs; STSb dev/test Spearman with 1, 2 and 3 layers.
- matryoshka2d: Matryoshka2dLoss(CoSENTLoss, dims 384/128/64) on STSb train; Spearman for layers x dims.
- ct:           ContrastiveTensionLossInBatchNegatives on the STSb train sentences alone (no pairs, no scores).
- simcse:       MultipleNegativesRankingLoss on (sentence, same sentence) pairs; dropout makes the two views differ.

Run: .venv/bin/python benchmarks/train_losses.py {adaptive,matryoshka2d,ct,simcse} [--steps 300] [--batch 16]
     [--lr 2e-5] [--threads N]. Prints a markdown table of Spearman (cosine) x 100 before and after.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "stsbenchmark"
MODEL = REPO.parent / "shared" / "models" / "paraphrase-MiniLM-L3-v2"
DIMS = (384, 128, 64)


def read_sts(split: str) -> tuple[list[str], list[str], list[float]]:
    first, second, scores = [], [], []
    with open(DATA / f"sts-{split}.csv", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            first.append(row[5])
            second.append(row[6])
            scores.append(float(row[4]) / 5)
    return first, second, scores


@contextmanager
def first_layers(model, count: int):
    """The model with only its first `count` transformer layers (the same cut AdaptiveLayerLoss trains)."""
    from sentembed.training.losses._adaptive_layer import find_layer_list

    owner, attribute = find_layer_list(model)
    layers = getattr(owner, attribute)
    setattr(owner, attribute, torch.nn.ModuleList(list(layers)[:count]))
    try:
        yield
    finally:
        setattr(owner, attribute, layers)


def spearman_grid(model, layer_counts: list[int], dims: tuple[int, ...]) -> dict[tuple[str, int, int], float]:
    """Spearman x 100 of cosine against gold on STSb dev and test, for each layer count and truncation."""
    results = {}
    for split in ("dev", "test"):
        first, second, gold = read_sts(split)
        for count in layer_counts:
            with first_layers(model, count):
                a = model.encode(first, batch_size=64, convert_to_numpy=True)
                b = model.encode(second, batch_size=64, convert_to_numpy=True)
            for dim in dims:
                x, y = a[:, :dim], b[:, :dim]
                cosine = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
                results[(split, count, dim)] = 100 * spearmanr(cosine, gold).statistic
    return results


def training_data(run: str):
    from datasets import Dataset

    first, second, scores = read_sts("train")
    if run in ("adaptive", "matryoshka2d"):
        return Dataset.from_dict({"sentence1": first, "sentence2": second, "score": scores})
    sentences = list(dict.fromkeys(first + second))
    if run == "ct":
        return Dataset.from_dict({"sentence": sentences})
    return Dataset.from_dict({"anchor": sentences, "positive": sentences})


def make_loss(run: str, model):
    from sentembed import losses

    if run == "adaptive":
        return losses.AdaptiveLayerLoss(model, losses.CoSENTLoss(model))
    if run == "matryoshka2d":
        return losses.Matryoshka2dLoss(model, losses.CoSENTLoss(model), list(DIMS))
    if run == "ct":
        return losses.ContrastiveTensionLossInBatchNegatives(model)
    return losses.MultipleNegativesRankingLoss(model)


def train(run: str, model, steps: int, batch: int, lr: float) -> None:
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments

    with tempfile.TemporaryDirectory() as output_dir:
        args = SentenceTransformerTrainingArguments(
            output_dir=output_dir, max_steps=steps, per_device_train_batch_size=batch, learning_rate=lr,
            warmup_steps=0.1, seed=42, save_strategy="no", report_to="none", disable_tqdm=True,
            logging_strategy="no", batch_sampler="no_duplicates" if run in ("ct", "simcse") else "batch_sampler",
        )  # fmt: skip
        loss = make_loss(run, model)
        SentenceTransformerTrainer(model=model, args=args, train_dataset=training_data(run), loss=loss).train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", choices=["adaptive", "matryoshka2d", "ct", "simcse"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    from sentembed import SentenceTransformer

    model = SentenceTransformer(str(MODEL), device="cpu")
    layer_counts = [1, 2, 3] if options.run in ("adaptive", "matryoshka2d") else [3]
    dims = DIMS if options.run == "matryoshka2d" else (384,)
    before = spearman_grid(model, layer_counts, dims)
    train(options.run, model, options.steps, options.batch, options.lr)
    after = spearman_grid(model, layer_counts, dims)
    print(f"{options.run}: {options.steps} steps, batch {options.batch}, lr {options.lr}, seed 42")
    print("| layers | dims | dev before | dev after | test before | test after |")
    print("|---|---|---|---|---|---|")
    for count in layer_counts:
        for dim in dims:
            dev, test = ("dev", count, dim), ("test", count, dim)
            print(
                f"| {count} | {dim} | {before[dev]:.2f} | {after[dev]:.2f} | {before[test]:.2f} | {after[test]:.2f} |"
            )


if __name__ == "__main__":
    main()
