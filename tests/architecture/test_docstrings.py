"""Every public callable explains itself in one style (Google: `Args:`, `Returns:`, `Raises:`).

The walk covers the `__all__` of each public module (those pinned in test_layout.py, and every top-level
package or module with an `__all__`): every function, every class, the class's `__init__` and its public
methods, as far as our own code defines them (what a class inherits from torch, transformers or another third
party is theirs to document). For each it asserts: a docstring; every parameter but self/cls/*args/**kwargs
named under `Args:` (a class may name its `__init__` arguments in its own docstring, a dataclass its fields
under `Attributes:`), and no name there that is not a parameter; `Returns:` (or `Yields:`) when the callable
returns something other than None.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib
import inspect
import pkgutil
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import sentembed
from tests.architecture.test_layout import PUBLIC_MODULES

SECTION = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Z][A-Za-z ]*):\s*$")
ENTRY = re.compile(r"^(?P<name>\*{0,2}\w+)\s*(\([^)]*\))?\s*:")
RETURNS_NOTHING = {"None", "NoReturn", "Never", "typing.NoReturn", "typing.Never"}

# Callables not documented yet, by the public path the walk first reaches them at. This list only shrinks: the test
# fails when an entry here is documented (remove it then), and any callable not listed must pass.
NOT_YET_DOCUMENTED: set[str] = {
    "sentembed.CrossEncoder.__init__",
    "sentembed.CrossEncoder.evaluate",
    "sentembed.CrossEncoder.fit",
    "sentembed.CrossEncoder.forward",
    "sentembed.CrossEncoder.hub_usage_example",
    "sentembed.CrossEncoder.is_singular_input",
    "sentembed.CrossEncoder.logits",
    "sentembed.CrossEncoder.predict",
    "sentembed.CrossEncoder.preprocess",
    "sentembed.CrossEncoder.prompted_pairs",
    "sentembed.CrossEncoder.rank",
    "sentembed.CrossEncoder.save",
    "sentembed.CrossEncoder.score_rows",
    "sentembed.CrossEncoder.scores_from_logits",
    "sentembed.CrossEncoder.smart_batching_collate",
    "sentembed.CrossEncoder.supports",
    "sentembed.CrossEncoder.tokenize",
    "sentembed.CrossEncoder.tokenize_pairs",
    "sentembed.CrossEncoder.use_device",
    "sentembed.CrossEncoderTrainer.__init__",
    "sentembed.CrossEncoderTrainer.arguments_class_name",
    "sentembed.CrossEncoderTrainer.build_losses",
    "sentembed.CrossEncoderTrainer.call_model_init",
    "sentembed.CrossEncoderTrainer.check_datasets",
    "sentembed.CrossEncoderTrainer.compute_loss",
    "sentembed.CrossEncoderTrainer.create_optimizer",
    "sentembed.CrossEncoderTrainer.default_loss",
    "sentembed.CrossEncoderTrainer.evaluate",
    "sentembed.CrossEncoderTrainer.evaluation_loop",
    "sentembed.CrossEncoderTrainer.get_batch_sampler",
    "sentembed.CrossEncoderTrainer.get_eval_dataloader",
    "sentembed.CrossEncoderTrainer.get_multi_dataset_batch_sampler",
    "sentembed.CrossEncoderTrainer.get_train_dataloader",
    "sentembed.CrossEncoderTrainer.hyperparameter_search",
    "sentembed.CrossEncoderTrainer.learning_rate_groups",
    "sentembed.CrossEncoderTrainer.move_losses_to_device",
    "sentembed.CrossEncoderTrainer.new_model",
    "sentembed.CrossEncoderTrainer.prediction_step",
    "sentembed.CrossEncoderTrainer.run_evaluator",
    "sentembed.CrossEncoderTrainer.save_trained_model",
    "sentembed.CrossEncoderTrainer.streamed_train_dataloader",
    "sentembed.SentenceTransformer.__init__",
    "sentembed.SentenceTransformer.embed_rows",
    "sentembed.SentenceTransformer.encode_document",
    "sentembed.SentenceTransformer.encode_multi_process",
    "sentembed.SentenceTransformer.encode_query",
    "sentembed.SentenceTransformer.encode_unique",
    "sentembed.SentenceTransformer.evaluate",
    "sentembed.SentenceTransformer.fit",
    "sentembed.SentenceTransformer.forward",
    "sentembed.SentenceTransformer.get_embedding_dimension",
    "sentembed.SentenceTransformer.get_max_seq_length",
    "sentembed.SentenceTransformer.get_model_kwargs",
    "sentembed.SentenceTransformer.get_sentence_embedding_dimension",
    "sentembed.SentenceTransformer.input_module_for",
    "sentembed.SentenceTransformer.is_singular_input",
    "sentembed.SentenceTransformer.prompt_length",
    "sentembed.SentenceTransformer.resolve_prompt",
    "sentembed.SentenceTransformer.route_for",
    "sentembed.SentenceTransformer.save",
    "sentembed.SentenceTransformer.set_pooling_include_prompt",
    "sentembed.SentenceTransformer.similarity",
    "sentembed.SentenceTransformer.similarity_pairwise",
    "sentembed.SentenceTransformer.smart_batching_collate",
    "sentembed.SentenceTransformer.start_multi_process_pool",
    "sentembed.SentenceTransformer.stop_multi_process_pool",
    "sentembed.SentenceTransformer.supports",
    "sentembed.SentenceTransformer.truncate_embeddings",
    "sentembed.SentenceTransformer.truncate_sentence_embeddings",
    "sentembed.SentenceTransformerTrainer.arguments_class_name",
    "sentembed.SentenceTransformerTrainer.check_datasets",
    "sentembed.SentenceTransformerTrainer.compute_loss",
    "sentembed.SentenceTransformerTrainer.default_loss",
    "sentembed.backend.BackendChoice.__init__",
    "sentembed.backend.OnnxSequenceClassifier.get_config_dict",
    "sentembed.backend.OnnxSequenceClassifier.logits",
    "sentembed.backend.OnnxSequenceClassifier.read_config",
    "sentembed.cache.EmbeddingCache.__init__",
    "sentembed.cache.EmbeddingCache.check_model",
    "sentembed.cache.EmbeddingCache.close",
    "sentembed.cache.EmbeddingCache.get_many",
    "sentembed.cache.EmbeddingCache.put_many",
    "sentembed.cache.EmbeddingCache.stats",
    "sentembed.common.hits.hits_from_top_k",
    "sentembed.cross_encoder.EmbeddingRetriever.__init__",
    "sentembed.cross_encoder.EmbeddingRetriever.search",
    "sentembed.cross_encoder.RetrieveAndRerank.__init__",
    "sentembed.cross_encoder.RetrieveAndRerank.from_corpus",
    "sentembed.cross_encoder.RetrieveAndRerank.from_store",
    "sentembed.cross_encoder.RetrieveAndRerank.search",
    "sentembed.cross_encoder.RetrieveAndRerank.text_of",
    "sentembed.cross_encoder.StoreRetriever.__init__",
    "sentembed.cross_encoder.StoreRetriever.search",
    "sentembed.cross_encoder.losses.ADRMSELoss.__init__",
    "sentembed.cross_encoder.losses.ADRMSELoss.activated",
    "sentembed.cross_encoder.losses.ADRMSELoss.approximate_ranks",
    "sentembed.cross_encoder.losses.ADRMSELoss.forward",
    "sentembed.cross_encoder.losses.ADRMSELoss.get_config_dict",
    "sentembed.cross_encoder.losses.ADRMSELoss.list_batch",
    "sentembed.cross_encoder.losses.ADRMSELoss.logits",
    "sentembed.cross_encoder.losses.BinaryCrossEntropyLoss.get_config_dict",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.__init__",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.backward_through_model",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.candidate_columns",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.forward",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.get_config_dict",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.loss_from_scores",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.mini_batches",
    "sentembed.cross_encoder.losses.CachedMultipleNegativesRankingLoss.pairs",
    "sentembed.cross_encoder.losses.CrossEncoderLoss.__init__",
    "sentembed.cross_encoder.losses.CrossEncoderLoss.get_config_dict",
    "sentembed.cross_encoder.losses.LambdaLoss.get_config_dict",
    "sentembed.cross_encoder.losses.ListMLELoss.__init__",
    "sentembed.cross_encoder.losses.ListMLELoss.forward",
    "sentembed.cross_encoder.losses.ListMLELoss.get_config_dict",
    "sentembed.cross_encoder.losses.ListNetLoss.__init__",
    "sentembed.cross_encoder.losses.ListNetLoss.forward",
    "sentembed.cross_encoder.losses.ListNetLoss.get_config_dict",
    "sentembed.cross_encoder.losses.MultipleNegativesRankingLoss.__init__",
    "sentembed.cross_encoder.losses.MultipleNegativesRankingLoss.forward",
    "sentembed.cross_encoder.losses.MultipleNegativesRankingLoss.get_config_dict",
    "sentembed.cross_encoder.losses.PListMLELambdaWeight.__init__",
    "sentembed.cross_encoder.losses.PListMLELambdaWeight.forward",
    "sentembed.cross_encoder.losses.PListMLELoss.__init__",
    "sentembed.cross_encoder.losses.PListMLELoss.get_config_dict",
    "sentembed.cross_encoder.losses.RankNetLoss.get_config_dict",
    "sentembed.datasets.DenoisingAutoEncoderDataset.__init__",
    "sentembed.datasets.DenoisingAutoEncoderDataset.delete",
    "sentembed.datasets.NoDuplicatesDataLoader.__init__",
    "sentembed.datasets.NoDuplicatesDataLoader.next_example",
    "sentembed.datasets.ParallelSentencesDataset.__init__",
    "sentembed.datasets.ParallelSentencesDataset.add_dataset",
    "sentembed.datasets.ParallelSentencesDataset.encode",
    "sentembed.datasets.ParallelSentencesDataset.get_embeddings",
    "sentembed.datasets.ParallelSentencesDataset.load_data",
    "sentembed.datasets.ParallelSentencesDataset.next_entry",
    "sentembed.datasets.SentenceLabelDataset.__init__",
    "sentembed.datasets.SentenceLabelDataset.group",
    "sentembed.datasets.SentencesDataset.__init__",
    "sentembed.distributed.Embedder.__init__",
    "sentembed.distributed.PairScorer.__init__",
    "sentembed.evaluation.InformationRetrievalEvaluator.__init__",
    "sentembed.evaluation.InformationRetrievalEvaluator.compute_metrics",
    "sentembed.evaluation.InformationRetrievalEvaluator.rank_corpus",
    "sentembed.evaluation.MSEEvaluatorFromDataFrame.__init__",
    "sentembed.evaluation.MSEEvaluatorFromDataFrame.embed",
    "sentembed.evaluation.MSEEvaluatorFromDataFrame.pairs_of",
    "sentembed.evaluation.NanoBEIREvaluator.__init__",
    "sentembed.evaluation.NanoBEIREvaluator.load_evaluator",
    "sentembed.evaluation.NanoBEIREvaluator.primary_from",
    "sentembed.evaluation.NanoBEIREvaluator.set_name",
    "sentembed.evaluation.ParaphraseMiningEvaluator.__init__",
    "sentembed.evaluation.RerankingEvaluator.__init__",
    "sentembed.evaluation.RerankingEvaluator.compute_metrics",
    "sentembed.losses.AdaptiveLayerLoss.__init__",
    "sentembed.losses.AdaptiveLayerLoss.chosen_layers",
    "sentembed.losses.AdaptiveLayerLoss.get_layer_weight",
    "sentembed.losses.AdaptiveLayerLoss.kept_layers",
    "sentembed.losses.CachedGISTEmbedLoss.__init__",
    "sentembed.losses.CachedGISTEmbedLoss.cached_loss",
    "sentembed.losses.CachedGISTEmbedLoss.caches_gradients",
    "sentembed.losses.CachedGISTEmbedLoss.mini_batch_bounds",
    "sentembed.losses.CachedMultipleNegativesRankingLoss.__init__",
    "sentembed.losses.CachedMultipleNegativesSymmetricRankingLoss.__init__",
    "sentembed.losses.DistillKLDivLoss.teacher_scores",
    "sentembed.losses.DistillKLDivLoss.warn_on_collapsed_teacher",
    "sentembed.losses.EmbedDistillLoss.__init__",
    "sentembed.losses.EmbedDistillLoss.load_projection",
    "sentembed.losses.EmbedDistillLoss.save_projection",
    "sentembed.losses.EmbedDistillLoss.teachers_per_column",
    "sentembed.losses.MSELoss.__init__",
    "sentembed.losses.MarginMSELoss.__init__",
    "sentembed.losses.Matryoshka2dLoss.__init__",
    "sentembed.losses.MatryoshkaLoss.chosen_dims",
    "sentembed.losses.MatryoshkaLoss.truncated_forwards",
    "sentembed.losses.MegaBatchMarginLoss.caches_gradients",
    "sentembed.mine_hard_negatives",
    "sentembed.models.Asym.get_config_dict",
    "sentembed.models.BoW.get_config_dict",
    "sentembed.models.BoW.load",
    "sentembed.models.CLIPModel.__init__",
    "sentembed.models.CLIPModel.forward",
    "sentembed.models.CLIPModel.get_config_dict",
    "sentembed.models.CLIPModel.get_embedding_dimension",
    "sentembed.models.CLIPModel.load",
    "sentembed.models.CLIPModel.pad",
    "sentembed.models.CLIPModel.save",
    "sentembed.models.CLIPModel.tokenize_unpadded",
    "sentembed.models.CNN.__init__",
    "sentembed.models.CNN.forward",
    "sentembed.models.CNN.get_embedding_dimension",
    "sentembed.models.CNN.load",
    "sentembed.models.Dense.__init__",
    "sentembed.models.Dense.forward",
    "sentembed.models.Dense.get_config_dict",
    "sentembed.models.Dense.get_sentence_embedding_dimension",
    "sentembed.models.Dense.load",
    "sentembed.models.Dropout.load",
    "sentembed.models.Pooling.load",
    "sentembed.models.SequenceClassifier.logits",
    "sentembed.models.SequenceClassifier.save_checkpoint",
    "sentembed.models.WordEmbeddings.get_config_dict",
    "sentembed.models.WordEmbeddings.load",
    "sentembed.readers.LabelSentenceReader.get_examples",
    "sentembed.readers.NLIDataReader.get_examples",
    "sentembed.readers.NLIDataReader.get_labels",
    "sentembed.readers.NLIDataReader.get_num_labels",
    "sentembed.readers.NLIDataReader.map_label",
    "sentembed.readers.PairedFilesReader.get_examples",
    "sentembed.readers.STSBenchmarkDataReader.__init__",
    "sentembed.readers.STSBenchmarkDataReader.get_examples",
    "sentembed.readers.TripletReader.get_examples",
    "sentembed.sampler.DefaultBatchSampler.__init__",
    "sentembed.sampler.DefaultBatchSampler.cut",
    "sentembed.sampler.DefaultBatchSampler.set_epoch",
    "sentembed.sampler.DefaultBatchSampler.shuffled",
    "sentembed.sampler.DefaultBatchSampler.without_short_last",
    "sentembed.sampler.GroupByLabelBatchSampler.__init__",
    "sentembed.sampler.GroupByLabelBatchSampler.dealt_in_turns",
    "sentembed.sampler.GroupByLabelBatchSampler.shuffled_pairs",
    "sentembed.sampler.MultiDatasetDefaultBatchSampler.__init__",
    "sentembed.sampler.MultiDatasetDefaultBatchSampler.schedule",
    "sentembed.sampler.MultiDatasetDefaultBatchSampler.set_epoch",
    "sentembed.sampler.NoDuplicatesBatchSampler.__init__",
    "sentembed.sampler.ProportionalBatchSampler.schedule",
    "sentembed.sampler.RoundRobinBatchSampler.schedule",
    "sentembed.store.EmbeddingStore.__init__",
    "sentembed.store.EmbeddingStore.add",
    "sentembed.store.EmbeddingStore.build",
    "sentembed.store.EmbeddingStore.check_model",
    "sentembed.store.EmbeddingStore.compact",
    "sentembed.store.EmbeddingStore.create",
    "sentembed.store.EmbeddingStore.delete",
    "sentembed.store.EmbeddingStore.embeddings",
    "sentembed.store.EmbeddingStore.empty",
    "sentembed.store.EmbeddingStore.get_metadata",
    "sentembed.store.EmbeddingStore.get_text",
    "sentembed.store.EmbeddingStore.model",
    "sentembed.store.EmbeddingStore.open",
    "sentembed.store.EmbeddingStore.search",
    "sentembed.store.EmbeddingStore.verify",
    "sentembed.util.cross_encoder_init_args_decorator",
    "sentembed.util.cross_encoder_predict_rank_args_decorator",
    "sentembed.util.mine_translations",
    "sentembed.util.paraphrase_mining",
    "sentembed.util.paraphrase_mining_embeddings",
}


@dataclass(frozen=True)
class PublicCallable:
    """One public callable to check: its public path, the function, and the docstrings that may document it."""

    path: str
    function: object
    docstrings: tuple[str, ...]
    is_init: bool = False
    owner: type | None = None


def is_ours(obj: object) -> bool:
    return (getattr(obj, "__module__", None) or "").startswith("sentembed")


def own_docstring(cls: type) -> str:
    """The class's own docstring, not one inherited from a base nor the signature a dataclass writes in."""
    doc = cls.__dict__.get("__doc__") or ""
    return "" if doc.startswith(f"{cls.__name__}(") else inspect.cleandoc(doc)


def method_docstring(cls: type, name: str) -> str:
    """The method's docstring, or the one of the method it overrides in one of our own classes (along `cls`'s
    MRO, as help() finds it)."""
    for owner in cls.__mro__:
        member = owner.__dict__.get(name)
        if member is None:
            continue
        doc = getattr(inspect.unwrap(plain_function(member) or member), "__doc__", None)
        if doc:
            return inspect.cleandoc(doc) if is_ours(owner) else ""
    return ""


def plain_function(member: object) -> object | None:
    """The function behind a class member (method, staticmethod, classmethod), None for properties and data."""
    if isinstance(member, staticmethod | classmethod):
        member = member.__func__
    return member if inspect.isfunction(member) or inspect.isfunction(inspect.unwrap(member)) else None


def init_docstrings(owner: type) -> tuple[str, ...]:
    """Where `owner.__init__`'s arguments may be documented: the class's own docstring, and for a dataclass also
    those of our dataclasses it extends (they declare the fields it inherits)."""
    if not dataclasses.is_dataclass(owner):
        return (own_docstring(owner),)
    return tuple(own_docstring(base) for base in owner.__mro__ if is_ours(base) and dataclasses.is_dataclass(base))


def defining_class(cls: type, name: str) -> type | None:
    """The class of the MRO that defines `name`, None for what only the metaclass has."""
    return next((owner for owner in cls.__mro__ if name in owner.__dict__), None)


def class_members(path: str, cls: type) -> Iterator[PublicCallable]:
    """The class, its `__init__` and its public methods, where our code defines them."""
    yield PublicCallable(path, cls, (own_docstring(cls),))
    for name in sorted({name for owner in cls.__mro__ if is_ours(owner) for name in vars(owner)}):
        if name.startswith("_") and name != "__init__":
            continue
        owner = defining_class(cls, name)
        if owner is None or not is_ours(owner) or (function := plain_function(owner.__dict__[name])) is None:
            continue
        if name == "__init__":
            docstrings = (method_docstring(cls, name), *init_docstrings(owner))
            yield PublicCallable(f"{path}.__init__", function, docstrings, is_init=True, owner=owner)
        else:
            yield PublicCallable(f"{path}.{name}", function, (method_docstring(cls, name),))


def public_modules() -> list[str]:
    """The modules pinned in test_layout.py, and every top-level package or module of ours that has an `__all__`."""
    top_level = [f"sentembed.{info.name}" for info in pkgutil.iter_modules(sentembed.__path__) if info.name[0] != "_"]
    found = [name for name in top_level if hasattr(importlib.import_module(name), "__all__")]
    return sorted(set(PUBLIC_MODULES) | set(found), key=lambda name: (name not in PUBLIC_MODULES, name))


def public_callables() -> list[PublicCallable]:
    """Each public callable once (a name exported by several modules is checked where the walk first meets it)."""
    found: dict[int, PublicCallable] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in sorted(module.__all__):
            obj = getattr(module, name)
            if name.startswith("_") or not is_ours(obj):
                continue
            path = f"{module_name}.{name}"
            if inspect.isclass(obj):
                members = class_members(path, obj)
            elif inspect.isfunction(inspect.unwrap(obj)):
                members = iter([PublicCallable(path, obj, (inspect.cleandoc(obj.__doc__ or ""),))])
            else:
                continue
            for member in members:
                found.setdefault(id(member.function), member)
    return list(found.values())


def section_entries(docstring: str, *titles: str) -> set[str]:
    """The names listed in the docstring's sections of these titles (`name:` or `name (type):` lines)."""
    names, lines, index = set(), docstring.splitlines(), 0
    while index < len(lines):
        header = SECTION.match(lines[index])
        index += 1
        if not header or header["name"] not in titles:
            continue
        entry_indent = None
        while index < len(lines) and (not lines[index].strip() or indent_of(lines[index]) > len(header["indent"])):
            line = lines[index]
            index += 1
            if not line.strip():
                continue
            entry_indent = indent_of(line) if entry_indent is None else entry_indent
            entry = ENTRY.match(line.strip())
            if indent_of(line) == entry_indent and entry:
                names.add(entry["name"])
    return names


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def has_section(docstring: str, *titles: str) -> bool:
    return any((match := SECTION.match(line)) and match["name"] in titles for line in docstring.splitlines())


def named_parameters(function: object) -> tuple[list[str], set[str]]:
    """(the parameters to document, the names of its *args / **kwargs)."""
    parameters = inspect.signature(function).parameters.values()
    variadic = {inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD}
    named = [p.name for p in parameters if p.kind not in variadic and p.name not in {"self", "cls"}]
    return named, {p.name for p in parameters if p.kind in variadic}


def declared_by_us(cls: type, name: str) -> bool:
    """Whether a dataclass field (an `__init__` parameter the dataclass wrote) is declared by one of our classes,
    not inherited from a third party's dataclass (transformers' TrainingArguments has a hundred)."""
    for owner in cls.__mro__:
        if name in vars(owner).get("__annotations__", {}):
            return is_ours(owner)
    return True


def returns_a_value(function: object) -> bool:
    """From the return annotation, or where there is none from a `return <value>` / `yield` in the body."""
    annotation = inspect.signature(function).return_annotation
    if annotation is not inspect.Signature.empty:
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        return text not in RETURNS_NOTHING
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(function))))
    except (OSError, TypeError, SyntaxError):
        return False
    return any(returns_in(node) for node in tree.body)


def returns_in(function: ast.AST) -> bool:
    """A `return <value>` or a yield in this function's own body (not in the functions it defines)."""
    pending = list(ast.iter_child_nodes(function))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Yield | ast.YieldFrom):
            return True
        if isinstance(node, ast.Return) and not is_none(node.value):
            return True
        pending.extend(ast.iter_child_nodes(node))
    return False


def is_none(value: ast.expr | None) -> bool:
    """A bare `return` or `return None`."""
    return value is None or (isinstance(value, ast.Constant) and value.value is None)


def problems_of(member: PublicCallable) -> list[str]:
    """What the callable's docstrings lack, each as a short phrase (empty: documented)."""
    docstring = "\n\n".join(doc for doc in member.docstrings if doc)
    if not docstring:
        return ["no docstring"]
    if inspect.isclass(member.function):
        return []
    named, variadic = named_parameters(member.function)
    if member.is_init and dataclasses.is_dataclass(member.owner):
        named = [name for name in named if declared_by_us(member.owner, name)]
    documented = section_entries(docstring, "Args")
    described = documented | (section_entries(docstring, "Attributes") if member.is_init else set())
    problems = []
    if missing := [name for name in named if name not in described]:
        problems.append(f"Args lacks {', '.join(missing)}")
    allowed = set(named) | variadic | {f"*{name}" for name in variadic} | {f"**{name}" for name in variadic}
    if unknown := sorted(documented - allowed):
        problems.append(f"Args names what is not a parameter: {', '.join(unknown)}")
    if not member.is_init and returns_a_value(member.function) and not has_section(docstring, "Returns", "Yields"):
        problems.append("no Returns")
    return problems


@functools.cache
def offenders() -> dict[str, list[str]]:
    """Each undocumented public callable with what it lacks."""
    return {member.path: problems for member in public_callables() if (problems := problems_of(member))}


def test_every_public_callable_documents_its_arguments_and_return():
    found = offenders()
    new = {path: problems for path, problems in found.items() if path not in NOT_YET_DOCUMENTED}
    report = "\n".join(f"{path}: {'; '.join(problems)}" for path, problems in sorted(new.items()))
    assert not new, f"{len(new)} public callables are not documented in Google style:\n{report}"


def test_the_not_yet_documented_list_only_shrinks():
    documented_now = sorted(NOT_YET_DOCUMENTED - set(offenders()))
    assert not documented_now, "documented now (or gone): remove from NOT_YET_DOCUMENTED:\n" + "\n".join(documented_now)


def test_the_check_reads_google_sections():
    def example(text: str, count: int, *rest: str, **options: object) -> int:
        """Count.

        Args:
            text: what to count in,
                over two lines.
            count (int): how many.
            **options: passed on.

        Returns:
            The count.
        """
        return count

    member = PublicCallable("example", example, (inspect.getdoc(example),))
    assert section_entries(inspect.getdoc(example), "Args") == {"text", "count", "**options"}
    assert problems_of(member) == []
    undocumented = PublicCallable("example", example, ("Count.\n\nArgs:\n    text: what.\n    size: extra.",))
    assert problems_of(undocumented) == [
        "Args lacks count",
        "Args names what is not a parameter: size",
        "no Returns",
    ]
