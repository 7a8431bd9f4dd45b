"""The package layout of docs/architecture.md: which floor each package is on, and what it may import."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import sentembed

SRC = Path(sentembed.__file__).parent

# docs/architecture.md: a package imports only from its own floor or those below, never from above.
FLOORS = {
    "common": 0,
    "version": 0,
    "similarity": 1,
    "quantization": 1,
    "models": 1,
    "loading": 2,
    "backend": 2,
    "search": 2,
    "training": 2,
    "cache": 2,
    "chunking": 2,
    "sentence_transformer": 3,
    "cross_encoder": 3,
    "store": 4,
    "distributed": 4,
    "server": 4,
    "cli": 5,
    "util": 5,
    "evaluation": 5,
    "losses": 5,
    "datasets": 5,
    "readers": 5,
    "sampler": 5,
    "model_card": 5,
    "base": 5,
    "training_args": 5,
    "__init__": 5,
}


def module_names() -> list[str]:
    names = ["sentembed"]
    for info in pkgutil.walk_packages([str(SRC)], prefix="sentembed."):
        names.append(info.name)
    return sorted(names)


def source_of(name: str) -> Path:
    relative = Path(*name.split(".")[1:])
    package = SRC / relative / "__init__.py"
    return package if package.exists() else SRC / relative.with_suffix(".py")


def is_module(name: str) -> bool:
    return source_of(name).exists()


def imported_modules(name: str) -> set[str]:
    """Every sentembed module `name` imports, at any depth of its code (function-level imports too)."""
    tree = ast.parse(source_of(name).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("sentembed"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sentembed"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if is_module(candidate) else node.module)
    return found - {name}


def package_of(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_floor():
    packages = {package_of(name) for name in module_names()}
    assert packages <= set(FLOORS), (
        f"packages without a floor in FLOORS and docs/architecture.md: {packages - set(FLOORS)}"
    )


def test_no_import_runs_up_a_floor():
    upward = []
    for name in module_names():
        source = package_of(name)
        for target in imported_modules(name):
            if FLOORS[package_of(target)] > FLOORS[source]:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports from a lower floor to a higher one:\n" + "\n".join(upward)


def test_the_ground_floor_imports_nothing_else_of_ours():
    for name in module_names():
        if package_of(name) == "common":
            outside = {target for target in imported_modules(name) if package_of(target) != "common"}
            assert not outside, f"{name} imports {outside}"


def test_no_two_modules_import_each_other():
    graph = {name: imported_modules(name) for name in module_names()}
    cycles = []

    def visit(node: str, path: list[str], on_path: set[str], done: set[str]) -> None:
        on_path.add(node)
        path.append(node)
        for target in graph.get(node, ()):
            if target in on_path:
                cycles.append(" -> ".join(path[path.index(target) :] + [target]))
            elif target not in done:
                visit(target, path, on_path, done)
        path.pop()
        on_path.discard(node)
        done.add(node)

    done: set[str] = set()
    for name in graph:
        if name not in done:
            visit(name, [], set(), done)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def private_parts(dotted: str) -> bool:
    """True when a part of the dotted module path below `sentembed` starts with an underscore (`__init__` aside)."""
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split(".")[1:])


def test_features_do_not_reach_into_each_others_private_names():
    crossings = []
    for name in module_names():
        tree = ast.parse(source_of(name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("sentembed")]
                crossings += [
                    f"{name}: import {target}"
                    for target in targets
                    if package_of(target) != package_of(name) and private_parts(target)
                ]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sentembed"):
                if package_of(node.module) == package_of(name):
                    continue
                if private_parts(node.module):
                    crossings.append(f"{name}: from {node.module} import ...")
                    continue
                private = [alias.name for alias in node.names if alias.name.startswith("_")]
                crossings += [f"{name}: {node.module}.{item}" for item in private if not item.startswith("__")]
    assert not crossings, (
        "private modules or names imported across packages (import the package's public surface instead):\n"
        + "\n".join(crossings)
    )


# A converted package's public surface is its __init__ (a top-level module such as `sentembed.util` is a surface
# itself); its implementation modules are private (`_name.py`). A module of a converted package without the
# underscore is in PUBLIC_MODULES (the ground floor's modules are each a surface), a compatibility facade (FACADES)
# or one of these declared public submodules, each with the reason it stays public.
PUBLIC_SUBMODULES: dict[str, str] = {
    "sentembed.loading.registry": "docs name `sentembed.loading.registry.trusted_module_classes` as the public path",
    "sentembed.loading.resolve": "docs name its logger, `sentembed.loading.resolve`, for the loading messages",
    "sentembed.sentence_transformer.model": "the reference's `sentence_transformers.SentenceTransformer` module path",
    "sentembed.cli.main": "the `sentembed` console script's entry point, also run as `python -m sentembed.cli.main`",
    "sentembed.cross_encoder.model": "the reference's `sentence_transformers.cross_encoder.CrossEncoder` module path",
    "sentembed.cross_encoder.legacy_args": "home of the deprecated-argument decorators `sentembed.util` re-exports",
    "sentembed.base.losses": "the reference's `sentence_transformers.base.losses` package, holding two facades",
    "sentembed.training.arguments": "the conformance shim names it (the reference's training_args)",
    "sentembed.training.fit": "the conformance shim names it (the reference's fit_mixin)",
    "sentembed.training.input_example": "the conformance shim names it (the reference's readers)",
    "sentembed.training.samplers": "the conformance shim names it (the reference's sampler)",
    "sentembed.training.trainer": "the conformance shim names it (the reference's trainer)",
    "sentembed.training.cross_encoder": "holds the cross-encoder trainer, losses and evaluators the shim names",
    "sentembed.training.cross_encoder.evaluation": "the conformance shim names it (cross_encoder.evaluation)",
    "sentembed.training.cross_encoder.losses": "the conformance shim names it (cross_encoder.losses)",
    "sentembed.training.cross_encoder.trainer": "the conformance shim names it (cross_encoder.trainer)",
    "sentembed.training.evaluation": "home of the evaluators that the evaluation facades re-export",
    "sentembed.training.losses": "home of the losses that the losses facades re-export",
    "sentembed.training.losses.pair_similarity": "the conformance shim names it (util.similarity's pairwise losses)",
    "sentembed.training.legacy_datasets": "home of the legacy datasets that `sentembed.datasets` re-exports",
    "sentembed.training.readers": "home of the legacy readers that `sentembed.readers` re-exports",
    "sentembed.training.losses.merged_forward": "home of the helpers `sentembed.base.losses.merged_forward` re-exports",
}

# Packages whose every module stays public, with the reason.
PUBLIC_PACKAGES = {
    "models": "its modules mirror the reference's `sentence_transformers.models.*` modules, which user code and the "
    "conformance shim import (`sentembed.models.pooling`)",
}

# The compatibility facades (tests/architecture/test_homes.py): each mirrors the sentence-transformers import path
# given, re-exports names whose home is elsewhere, and says so in its docstring (the word "compatibility" and the
# dotted path of every home it draws on). A facade is public by what it is.
FACADES = {
    "sentembed.base.losses.gradcache": "sentence_transformers.base.losses.gradcache",
    "sentembed.base.losses.merged_forward": "sentence_transformers.base.losses.merged_forward",
    "sentembed.base.model_card": "sentence_transformers.base.model_card",
    "sentembed.base.trainer": "sentence_transformers.base.trainer",
    "sentembed.cross_encoder": "sentence_transformers.cross_encoder",
    "sentembed.cross_encoder.evaluation": "sentence_transformers.cross_encoder.evaluation",
    "sentembed.cross_encoder.losses": "sentence_transformers.cross_encoder.losses",
    "sentembed.cross_encoder.trainer": "sentence_transformers.cross_encoder.trainer",
    "sentembed.cross_encoder.training_args": "sentence_transformers.cross_encoder.training_args",
    "sentembed.datasets": "sentence_transformers.datasets",
    "sentembed.evaluation": "sentence_transformers.evaluation",
    "sentembed.losses": "sentence_transformers.losses",
    "sentembed.model_card": "sentence_transformers.model_card",
    "sentembed.readers": "sentence_transformers.readers",
    "sentembed.sampler": "sentence_transformers.sampler",
    "sentembed.sentence_transformer.evaluation": "sentence_transformers.sentence_transformer.evaluation",
    "sentembed.sentence_transformer.losses": "sentence_transformers.sentence_transformer.losses",
    "sentembed.sentence_transformer.modules": "sentence_transformers.sentence_transformer.modules",
    "sentembed.sentence_transformer.trainer": "sentence_transformers.sentence_transformer.trainer",
    "sentembed.sentence_transformer.training_args": "sentence_transformers.sentence_transformer.training_args",
    "sentembed.training_args": "sentence_transformers.training_args",
    "sentembed.util": "sentence_transformers.util",
}


def test_implementation_modules_are_private():
    public = [
        name
        for name in module_names()
        if name.count(".") >= 2
        and package_of(name) not in PUBLIC_PACKAGES
        and not private_parts(name)
        and name not in PUBLIC_SUBMODULES
        and name not in PUBLIC_MODULES
        and name not in FACADES
    ]
    assert not public, (
        "modules that are neither private (`_name.py`) nor in PUBLIC_MODULES, FACADES or PUBLIC_SUBMODULES: "
        + ", ".join(public)
    )


def test_the_declared_public_submodules_and_packages_exist():
    missing = [name for name in PUBLIC_SUBMODULES if not is_module(name)]
    assert not missing, f"PUBLIC_SUBMODULES names modules that do not exist: {missing}"
    packages = {package_of(name) for name in module_names()}
    assert set(PUBLIC_PACKAGES) <= packages, "PUBLIC_PACKAGES names a package that does not exist"


PUBLIC_MODULES = [
    "sentembed",
    "sentembed.backend",
    "sentembed.cache",
    "sentembed.chunking",
    "sentembed.common.batching",
    "sentembed.common.checks",
    "sentembed.common.errors",
    "sentembed.common.files",
    "sentembed.common.hits",
    "sentembed.common.runtime",
    "sentembed.common.protocols",
    "sentembed.common.types",
    "sentembed.cross_encoder",
    "sentembed.cross_encoder.losses",
    "sentembed.datasets",
    "sentembed.distributed",
    "sentembed.evaluation",
    "sentembed.loading",
    "sentembed.losses",
    "sentembed.models",
    "sentembed.quantization",
    "sentembed.readers",
    "sentembed.sampler",
    "sentembed.similarity",
    "sentembed.server",
    "sentembed.store",
    "sentembed.util",
]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_name_in_all_imports(module_name):
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    assert exported, f"{module_name} has no __all__"
    missing = [name for name in exported if getattr(module, name, None) is None]
    assert not missing, f"{module_name}.__all__ names what it does not have: {missing}"


# The public surface, pinned to the exact names: adding or dropping a public name is a deliberate change here.
PINNED = {
    "sentembed": {
        "__version__", "CacheDamagedError", "CacheError", "CrossEncoder", "CrossEncoderTrainer",
        "CrossEncoderTrainingArguments", "export_dynamic_quantized_onnx_model", "export_optimized_onnx_model",
        "export_static_quantized_openvino_model", "InputExample", "LoggingHandler", "mine_hard_negatives",
        "quantize_embeddings", "SentembedError", "SentenceTransformer", "SentenceTransformerModelCardData",
        "SentenceTransformerTrainer", "SentenceTransformerTrainingArguments", "ServerError", "SimilarityFunction",
        "StoreDamagedError", "StoreError", "WorkerError"
    },
    "sentembed.backend": {
        "apply_backend", "available_cores", "BACKEND_OPTIONS", "BackendChoice", "BACKENDS", "CpuFeatures",
        "default_num_threads", "detect_cpu", "emulation_environment", "export_dynamic_quantized_onnx_model",
        "export_optimized_onnx_model", "export_static_quantized_openvino_model", "OnnxGraph", "OnnxSequenceClassifier",
        "OnnxSettings", "OnnxTransformer", "OPTIMIZATION_LEVELS", "OVQuantizationConfig", "pack_linear_weights",
        "PackedLinear", "QUALITY_BARS", "QUANTIZATION_CONFIGS", "split_model_kwargs", "use_backend"
    },
    "sentembed.cache": {"CacheDamagedError", "CacheError", "EmbeddingCache", "model_fingerprint"},
    "sentembed.chunking": {"Chunk", "chunk_text", "chunk_texts", "Chunking"},
    "sentembed.common.batching": {
        "batch_budget", "batch_to_device", "BatchBudget", "CPU_BUDGET", "deduplicate", "GPU_BUDGET", "in_input_order",
        "Pad", "padded_batch", "plan_batches", "run_in_sorted_batches", "sorted_batches"
    },
    "sentembed.common.checks": {
        "array_matrix", "as_array", "check_choice", "check_finite", "check_port", "check_positive_float",
        "check_positive_int", "check_text", "check_text_list", "check_texts", "is_quantized", "renamed_argument",
        "resolve_prompt", "tensor_matrix", "to_matrix", "to_tensor"
    },
    "sentembed.common.errors": {
        "CacheDamagedError", "CacheError", "SentembedError", "ServerError", "StoreDamagedError", "StoreError",
        "WorkerError"
    },
    "sentembed.common.files": {
        "atomic_write", "file_digest", "file_lock", "http_get", "load_array", "path_inside", "read_json",
        "read_json_object", "read_line", "read_lines", "save_array", "save_lines", "write_json"
    },
    "sentembed.common.hits": {"hits_from_top_k"},
    "sentembed.common.runtime": {
        "available_cores", "BatchesInFlight", "check_device", "default_cache_folder", "default_device",
        "default_num_threads", "is_datasets_available", "is_training_available", "LoggingHandler", "progress_bar_wanted"
    },
    "sentembed.common.types": {
        "ArrayLike", "Backend", "Features", "fullname", "Hit", "KNOWN_MODULE_PREFIXES", "Pair", "Precision",
        "PRECISIONS", "Row", "supports_modality"
    },
    "sentembed.common.protocols": {
        "EncoderModel", "PairModel", "TrainableEncoderModel", "TrainableModel", "TrainablePairModel"
    },
    "sentembed.cross_encoder": {
        "CrossEncoder", "CrossEncoderModelCardData", "CrossEncoderTrainer", "CrossEncoderTrainingArguments",
        "EmbeddingRetriever", "RetrieveAndRerank", "StoreRetriever"
    },
    "sentembed.cross_encoder.losses": {
        "ADRMSELoss", "BaseWeightingScheme", "BinaryCrossEntropyLoss", "CachedMultipleNegativesRankingLoss",
        "CrossEncoderLoss", "CrossEntropyLoss", "LambdaLoss", "LambdaRankScheme", "ListMLELoss", "ListNetLoss",
        "ListwiseLoss", "MarginMSELoss", "MSELoss", "MultipleNegativesRankingLoss", "NDCGLoss1Scheme",
        "NDCGLoss2PPScheme", "NDCGLoss2Scheme", "NoWeightingScheme", "PListMLELambdaWeight", "PListMLELoss",
        "RankNetLoss"
    },
    "sentembed.datasets": {
        "DenoisingAutoEncoderDataset", "NoDuplicatesDataLoader", "ParallelSentencesDataset", "SentenceLabelDataset",
        "SentencesDataset"
    },
    "sentembed.distributed": {
        "build_store", "connect", "Embedder", "encode_dataset", "PairScorer", "predict_dataset", "WorkerError"
    },
    "sentembed.evaluation": {
        "BinaryClassificationEvaluator", "EmbeddingSimilarityEvaluator", "InformationRetrievalEvaluator",
        "LabelAccuracyEvaluator", "MSEEvaluator", "MSEEvaluatorFromDataFrame", "NanoBEIREvaluator",
        "ParaphraseMiningEvaluator", "RerankingEvaluator", "SentenceEvaluator", "SequentialEvaluator",
        "TranslationEvaluator", "TripletEvaluator"
    },
    "sentembed.loading": {
        "BaseModelCardData", "CrossEncoderModelCardData", "generate_model_card", "load_modules", "ModelConfig",
        "resolve_model_path", "save_modules", "SentenceTransformerModelCardData"
    },
    "sentembed.losses": {
        "AdaptiveLayerLoss", "AnglELoss", "BatchAllTripletLoss", "BatchHardSoftMarginTripletLoss",
        "BatchHardTripletLoss", "BatchHardTripletLossDistanceFunction", "BatchSemiHardTripletLoss",
        "CachedGISTEmbedLoss", "CachedMultipleNegativesRankingLoss", "CachedMultipleNegativesSymmetricRankingLoss",
        "ColumnSpec", "ContrastiveLoss", "ContrastiveTensionDataLoader", "ContrastiveTensionLoss",
        "ContrastiveTensionLossInBatchNegatives", "CoSENTLoss", "CosineSimilarityLoss", "DenoisingAutoEncoderLoss",
        "DistillKLDivLoss", "EmbeddingLoss", "EmbedDistillLoss", "GISTEmbedLoss", "GlobalOrthogonalRegularizationLoss",
        "MarginMSELoss", "Matryoshka2dLoss", "MatryoshkaLoss", "MegaBatchMarginLoss", "MSELoss",
        "MultipleNegativesRankingLoss", "MultipleNegativesSymmetricRankingLoss", "OnlineContrastiveLoss", "RandContext",
        "SiameseDistanceMetric", "SoftmaxLoss", "TripletDistanceMetric", "TripletLoss"
    },
    "sentembed.models": {
        "Asym", "BoW", "CLIPModel", "CNN", "Dense", "Dropout", "InputModule", "LayerNorm", "LSTM", "Module",
        "Normalize", "Pooling", "Router", "SequenceClassifier", "StaticEmbedding", "Transformer",
        "WeightedLayerPooling", "WhitespaceTokenizer", "WordEmbeddings", "WordWeights"
    },
    "sentembed.quantization": {
        "check_precision", "PRECISIONS", "quantize_embeddings", "semantic_search_faiss", "semantic_search_usearch"
    },
    "sentembed.readers": {
        "InputExample", "LabelSentenceReader", "NLIDataReader", "PairedFilesReader", "STSBenchmarkDataReader",
        "STSDataReader", "TripletReader"
    },
    "sentembed.sampler": {
        "BatchSamplers", "DefaultBatchSampler", "GroupByLabelBatchSampler", "MultiDatasetBatchSamplers",
        "MultiDatasetDefaultBatchSampler", "NoDuplicatesBatchSampler", "ProportionalBatchSampler",
        "RoundRobinBatchSampler", "SetEpochMixin", "SubsetRandomSampler"
    },
    "sentembed.server": {"ApiError", "create_app", "load_models", "serve", "ServerError", "ServeSettings"},
    "sentembed.similarity": {
        "cos_sim", "dot_score", "euclidean_sim", "manhattan_sim", "maxsim", "maxsim_pairwise", "mean_maxsim",
        "mean_maxsim_pairwise", "normalize_embeddings", "pairwise_cos_sim", "pairwise_dot_score",
        "pairwise_euclidean_sim", "pairwise_manhattan_sim", "select_max_active_dims", "SimilarityFunction",
        "SimilarityName", "truncate_embeddings"
    },
    "sentembed.store": {"EmbeddingStore", "StoreDamagedError", "StoreError"},
    "sentembed.util": {
        "batch_to_device", "community_detection", "cos_sim", "cross_encoder_init_args_decorator",
        "cross_encoder_predict_rank_args_decorator", "dot_score", "euclidean_sim", "fullname", "http_get",
        "is_datasets_available", "is_training_available", "LoggingHandler", "manhattan_sim", "maxsim",
        "maxsim_pairwise", "mean_maxsim", "mean_maxsim_pairwise", "mine_hard_negatives", "mine_translations",
        "normalize_embeddings", "pairwise_cos_sim", "pairwise_dot_score", "pairwise_euclidean_sim",
        "pairwise_manhattan_sim", "paraphrase_mining", "paraphrase_mining_embeddings", "pytorch_cos_sim",
        "quantize_embeddings", "select_max_active_dims", "semantic_search", "SiameseDistanceMetric",
        "SimilarityFunction", "TripletDistanceMetric", "truncate_embeddings"
    },
}  # fmt: skip


def test_every_public_module_is_pinned():
    assert sorted(PINNED) == sorted(PUBLIC_MODULES)


@pytest.mark.parametrize("module_name", sorted(PINNED))
def test_the_public_surface_is_pinned(module_name):
    exported = importlib.import_module(module_name).__all__
    assert len(set(exported)) == len(exported), f"{module_name}.__all__ names something twice"
    added, dropped = sorted(set(exported) - PINNED[module_name]), sorted(PINNED[module_name] - set(exported))
    assert set(exported) == PINNED[module_name], f"{module_name}.__all__ added {added}, dropped {dropped}"
