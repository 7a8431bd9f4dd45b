"""Fine-tune a static model distilled from all-MiniLM-L6-v2 with SentenceTransformerTrainer, and report STSb test
Spearman before and after: CoSENTLoss on the STSb train pairs (scores as labels), and
MultipleNegativesRankingLoss on the STSb train pairs scored 4 or more (in-batch negatives).
Run: .venv/bin/python benchmarks/train_static.py [--loss cosent mnrl] [--epochs 3] [--learning-rate 5e-3]
    [--distilled FOLDER]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.data import read_sts  # noqa: E402
from tests.support.paths import minilm_l6_folder  # noqa: E402

from sentembed import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments  # noqa: E402
from sentembed.evaluation import EmbeddingSimilarityEvaluator  # noqa: E402
from sentembed.losses import CoSENTLoss, MultipleNegativesRankingLoss  # noqa: E402
from sentembed.models import Normalize, StaticEmbedding  # noqa: E402

HIGH_SCORE = 4.0


def sts_test_spearman(model: SentenceTransformer) -> float:
    first, second, gold = read_sts("test")
    evaluator = EmbeddingSimilarityEvaluator(first, second, [score / 5 for score in gold], name="sts-test")
    return evaluator(model)["sts-test_spearman_cosine"]


def training_data(loss_name: str):
    """(dataset, loss factory): scored pairs for CoSENT, the high-score pairs for MNRL."""
    import datasets

    first, second, scores = read_sts("train")
    if loss_name == "cosent":
        rows = {"sentence1": first, "sentence2": second, "score": [score / 5 for score in scores]}
        return datasets.Dataset.from_dict(rows), CoSENTLoss
    pairs = [(a, b) for a, b, score in zip(first, second, scores, strict=True) if score >= HIGH_SCORE]
    rows = {"anchor": [a for a, _ in pairs], "positive": [b for _, b in pairs]}
    return datasets.Dataset.from_dict(rows), MultipleNegativesRankingLoss


def distilled_static(pca_dims: int, sif_coefficient: float) -> SentenceTransformer:
    teacher = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    table = StaticEmbedding.from_distillation(teacher, pca_dims=pca_dims, sif_coefficient=sif_coefficient)
    return SentenceTransformer(modules=[table, Normalize()], device="cpu")


def fine_tune(model: SentenceTransformer, loss_name: str, args: argparse.Namespace, output_dir: str) -> float:
    """Train `model` in place; returns the seconds it took."""
    dataset, loss_class = training_data(loss_name)
    training_args = SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_ratio=0.1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        seed=args.seed,
        batch_sampler="no_duplicates" if loss_name == "mnrl" else "batch_sampler",
    )
    start = time.perf_counter()
    trainer = SentenceTransformerTrainer(model=model, args=training_args, train_dataset=dataset, loss=loss_class(model))
    trainer.train()
    print(f"  {loss_name}: {len(dataset)} rows, {trainer.state.global_step} steps, {time.perf_counter() - start:.1f} s")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loss", nargs="+", choices=["cosent", "mnrl"], default=["cosent", "mnrl"])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-3)
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--sif-coefficient", type=float, default=1e-5)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--distilled", help="folder of the distilled model: read when it exists, else written")
    parser.add_argument("--save", help="folder to save each fine-tuned model in (one subfolder per loss)")
    args = parser.parse_args()

    if args.distilled and (Path(args.distilled) / "modules.json").exists():
        base = SentenceTransformer(args.distilled, device="cpu")
        print(f"read the distilled model from {args.distilled}")
    else:
        start = time.perf_counter()
        base = distilled_static(args.pca_dims, args.sif_coefficient)
        seconds = time.perf_counter() - start
        print(f"distilled all-MiniLM-L6-v2 in {seconds:.1f} s (PCA {args.pca_dims}, SIF {args.sif_coefficient})")
        if args.distilled:
            base.save(args.distilled)
    before = sts_test_spearman(base)
    print(f"STSb test Spearman, distilled: {before:.4f}")
    with tempfile.TemporaryDirectory() as scratch:
        base.save(str(Path(scratch) / "distilled"))
        for loss_name in args.loss:
            model = SentenceTransformer(str(Path(scratch) / "distilled"), device="cpu")
            fine_tune(model, loss_name, args, str(Path(scratch) / loss_name))
            after = sts_test_spearman(model)
            print(f"STSb test Spearman after {loss_name}: {after:.4f} ({after - before:+.4f})")
            if args.save:
                model.save(str(Path(args.save) / loss_name))


if __name__ == "__main__":
    main()
