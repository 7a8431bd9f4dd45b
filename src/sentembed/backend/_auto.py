"""`backend="auto"`: the fastest path for this CPU and model under a quality bar the caller chooses.

The CPU's class (`sentembed.backend._cpu`) rules candidates in or out; each remaining candidate must pass the
bar on a small sample; where more than one passes, a short timed run on this machine picks the fastest. The
choice, and the int8 files made for it, are cached under `<cache folder>/auto-backend/`, per model (its folder
and a fingerprint of its weights) and CPU (name and class), so later loads reuse them without measuring again.

Bars (`model_kwargs={"auto_quality": ...}`):
- "exact": fp32 only; every candidate's output must be within 1e-5 (max abs difference) of torch's.
- "int8": any precision (fp32, int8, bf16) whose rank quality stays within 0.005 of fp32. With labelled pairs
  (`auto_pairs=[(text, text, score), ...]`, e.g. STSb dev) the quality is the Spearman correlation of the
  pair scores with the labels, and a candidate passes when it is at least fp32's minus 0.005. Without them,
  the built-in pairs below have no labels: a candidate passes when the Spearman correlation of its pair
  scores with fp32's is at least AGREEMENT_FLOOR. Noise that does not depend on the labels scales a
  correlation with them by about the correlation with fp32, so 0.994 keeps a model near 0.82 within 0.005.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sentembed.backend import _export as exporting
from sentembed.backend._cpu import ARM64, CpuFeatures, detect_cpu
from sentembed.backend._onnx_transformer import BACKEND_OPTIONS, checkpoint_folder, ensure_export
from sentembed.backend._optimize import quantize_dynamic_int8
from sentembed.backend._static_int8 import OVQuantizationConfig, quantize_static_int8
from sentembed.common.checks import check_choice, check_positive_int
from sentembed.common.runtime import default_num_threads
from sentembed.version import __version__

logger = logging.getLogger(__name__)

QUALITY_BARS = ("exact", "int8")
# The keys of `model_kwargs` that configure backend="auto" (num_threads is shared with the other backends).
AUTO_OPTIONS = ("auto_quality", "auto_pairs", "auto_calibrate")
EXACT_TOLERANCE = 1e-5
RANK_TOLERANCE = 0.005
AGREEMENT_FLOOR = 0.994
CHOICE_FORMAT = "1"
CACHE_FOLDER = "auto-backend"
TIMING_ROUNDS = 2
LONG_TEXTS = 4
BATCH_ROWS = 32

# The built-in sample: groups of four sentences on one topic, from near-paraphrases to loosely related, so that
# the pairs below span high to low similarity as STS pairs do.
SAMPLE_GROUPS = (
    (
        "A man is playing a guitar on a small stage.",
        "Someone plays the guitar in front of a crowd.",
        "A woman is tuning a violin before the concert.",
        "The band cancelled its tour because of the storm.",
    ),
    (
        "The train to Lyon leaves at seven in the morning.",
        "An early morning train departs for Lyon at 7 am.",
        "The bus station is next to the old market square.",
        "Rail workers are striking over pay this week.",
    ),
    (
        "Two dogs are running through a field of grass.",
        "A pair of dogs race across the meadow.",
        "A cat sleeps on a warm windowsill in the sun.",
        "The veterinarian vaccinated the puppies on Monday.",
    ),
    (
        "Interest rates were raised by a quarter point.",
        "The central bank increased rates by 0.25 percent.",
        "Stock markets closed lower after the announcement.",
        "Mortgage holders worry about their monthly payments.",
    ),
    (
        "She is slicing tomatoes for a salad.",
        "A woman cuts tomatoes into pieces for a salad.",
        "A chef is frying onions in a large pan.",
        "The restaurant received a poor hygiene rating.",
    ),
    (
        "The patient was given antibiotics for the infection.",
        "Doctors treated the infection with antibiotics.",
        "Bacteria can become resistant to common drugs.",
        "The hospital opened a new wing for children.",
    ),
    (
        "A child is riding a bicycle down the street.",
        "A young boy rides his bike along the road.",
        "A girl is skating in the park with friends.",
        "The city plans to build more cycle lanes.",
    ),
    (
        "The spacecraft landed safely on the surface of Mars.",
        "A probe touched down on Mars without problems.",
        "Astronomers discovered a new moon orbiting Saturn.",
        "The launch was delayed by high winds at the coast.",
    ),
    (
        "He forgot his password and could not log in.",
        "The user was locked out after losing his password.",
        "Two-factor authentication makes accounts harder to steal.",
        "The company hired more staff for its help desk.",
    ),
    (
        "Heavy rain flooded several streets in the town centre.",
        "Streets downtown were under water after the downpour.",
        "The drought has left the reservoir half empty.",
        "Farmers expect a good harvest of wheat this year.",
    ),
    (
        "The committee approved the new school budget.",
        "A new budget for schools was passed by the committee.",
        "Teachers asked for smaller classes and better pay.",
        "The library extended its opening hours on weekends.",
    ),
    (
        "A protein folds into its three-dimensional shape within milliseconds.",
        "Proteins take their folded structure very quickly.",
        "Enzymes speed up chemical reactions in the cell.",
        "The laboratory bought a new electron microscope.",
    ),
)


@dataclass(frozen=True)
class Candidate:
    """One way to run the model: `runtime` (torch, onnx or openvino) at `precision` (fp32, int8, bf16, int8+bf16)."""

    name: str
    runtime: str
    precision: str


TORCH = Candidate("torch", "torch", "fp32")
ONNX = Candidate("onnx", "onnx", "fp32")
OPENVINO = Candidate("openvino", "openvino", "fp32")
ONNX_INT8 = Candidate("onnx-int8", "onnx", "int8")
OPENVINO_INT8 = Candidate("openvino-int8", "openvino", "int8")
OPENVINO_INT8_BF16 = Candidate("openvino-int8-bf16", "openvino", "int8+bf16")
OPENVINO_BF16 = Candidate("openvino-bf16", "openvino", "bf16")


@dataclass
class BackendChoice:
    """What backend="auto" chose: the runtime, the precision, why, and what was measured to decide.

    `options` are the backend options it runs with (a `file_name`, an `inference_precision`); `measurements`
    holds each candidate's quality and, when timed, its seconds; `cached` is True when the choice was read
    back from the cache instead of being measured in this process.

    Attributes:
        backend: The runtime: "torch", "onnx" or "openvino".
        precision: "fp32", "int8", "bf16" or "int8+bf16".
        candidate: The chosen candidate's name, e.g. "onnx-qint8".
        reason: Why it was chosen.
        quality: The quality bar it passed.
        cpu: The CPU it was chosen for.
        options: The backend options it runs with.
        measurements: Each candidate's quality and, when timed, its seconds.
        cached: Whether the choice was read back from the cache.
    """

    backend: str
    precision: str
    candidate: str
    reason: str
    quality: str
    cpu: str
    options: dict[str, Any] = field(default_factory=dict)
    measurements: dict[str, dict[str, float | bool | str]] = field(default_factory=dict)
    cached: bool = False

    def __str__(self) -> str:
        return f"{self.candidate} ({self.backend}, {self.precision}): {self.reason}"


@dataclass(frozen=True)
class AutoSettings:
    """The caller's `auto_*` options: the bar, labelled pairs for it (or None), and whether to time candidates."""

    quality: str = "exact"
    pairs: tuple[tuple[str, str, float], ...] | None = None
    calibrate: bool = True
    num_threads: int | None = None

    @classmethod
    def of(cls, options: dict[str, Any]) -> AutoSettings:
        """Read and check the options given with backend="auto"; the other backends' file options are refused."""
        fixed = sorted(set(options) & (set(BACKEND_OPTIONS) - {"num_threads"}))
        if fixed:
            raise ValueError(
                f"backend='auto' chooses the file and precision itself; {', '.join(fixed)} cannot be given with it "
                "(name a backend to choose them)"
            )
        quality = check_choice(options.get("auto_quality", "exact"), QUALITY_BARS, "auto_quality")
        calibrate = options.get("auto_calibrate", True)
        if not isinstance(calibrate, bool):
            raise TypeError(f"auto_calibrate must be True or False, got {calibrate!r}")
        threads = check_positive_int(options.get("num_threads"), "num_threads", optional=True)
        return cls(quality, check_pairs(options.get("auto_pairs")), calibrate, threads)


def check_pairs(pairs: Any) -> tuple[tuple[str, str, float], ...] | None:
    """Labelled pairs for the int8 bar: (text, text, score) items, at least 10 of them."""
    if pairs is None:
        return None
    if not isinstance(pairs, (list, tuple)) or len(pairs) < 10:
        raise ValueError("auto_pairs must be a list of at least 10 (text, text, score) items")
    checked = []
    for index, item in enumerate(pairs):
        if not (isinstance(item, (list, tuple)) and len(item) == 3 and all(isinstance(t, str) for t in item[:2])):
            raise TypeError(f"auto_pairs[{index}] must be a (text, text, score) item, got {item!r}")
        try:
            checked.append((item[0], item[1], float(item[2])))
        except (TypeError, ValueError):
            raise TypeError(f"auto_pairs[{index}] has a score that is not a number: {item[2]!r}") from None
    return tuple(checked)


def split_auto_options(model_kwargs: dict[str, Any], backend: str) -> dict[str, Any]:
    """Take the auto_* keys out of `model_kwargs` (in place); refused with any backend but "auto"."""
    options = {key: model_kwargs.pop(key) for key in AUTO_OPTIONS if key in model_kwargs}
    if options and backend != "auto":
        raise ValueError(f"{', '.join(options)} configure backend='auto'; they mean nothing with backend={backend!r}")
    return options


# ----- the rules -------------------------------------------------------------------------------------------


def shortlist(cpu: CpuFeatures, quality: str, nncf_available: bool = True) -> tuple[list[Candidate], str]:
    """The candidates worth trying on this CPU under the bar, most promising first, and why.

    fp32: onnxruntime, OpenVINO and torch trade places between CPUs, so all three stay for the timed run.
    int8: without VNNI, OpenVINO's static int8 runs slower than its fp32 (see docs/backends.md) and bf16 is
    not native, so onnxruntime's dynamic int8 is the path; with VNNI, OpenVINO's static int8 (with bf16 for
    what int8 leaves in float where the CPU has bf16) competes with it; with AMX, bf16 alone too.
    """
    fp32 = [ONNX, OPENVINO, TORCH]
    if quality == "exact":
        return fp32, "fp32 within 1e-5 of torch"
    if cpu.isa == ARM64:
        return [ONNX_INT8, *fp32], "ARM64: onnxruntime's dynamic int8 (SDOT kernels)"
    if not cpu.vnni:
        return [ONNX_INT8, *fp32], f"{cpu.isa} without VNNI: static int8 does not pay off, dynamic int8 does"
    int8 = [OPENVINO_INT8, ONNX_INT8] if nncf_available else [ONNX_INT8]
    if cpu.bf16 and nncf_available:
        int8.insert(1, OPENVINO_INT8_BF16)
    if cpu.isa == "amx":
        int8.append(OPENVINO_BF16)
    return [*int8, *fp32], f"{cpu.isa}: VNNI int8 kernels" + (" and native bf16" if cpu.bf16 else "")


def nncf_installed() -> bool:
    """Whether NNCF (for OpenVINO's static int8) can be imported."""
    import importlib.util

    return importlib.util.find_spec("nncf") is not None


# ----- the sample and its measures ---------------------------------------------------------------------------


def builtin_pairs() -> list[tuple[str, str]]:
    """Every pair within each group, and each sentence with its counterpart in the next group."""
    pairs = []
    for group in SAMPLE_GROUPS:
        pairs += [(group[i], group[j]) for i in range(len(group)) for j in range(i + 1, len(group))]
    for index, group in enumerate(SAMPLE_GROUPS):
        following = SAMPLE_GROUPS[(index + 1) % len(SAMPLE_GROUPS)]
        pairs += list(zip(group, following, strict=True))
    return pairs


def long_texts(count: int = LONG_TEXTS) -> list[str]:
    """Paragraphs made of the sample's sentences, long enough to fill a 256-token window."""
    sentences = [sentence for group in SAMPLE_GROUPS for sentence in group]
    return [" ".join(sentences[start:] + sentences[:start]) for start in range(0, count * 5, 5)]


def spearman(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman's rank correlation (ties get their mean rank)."""
    return float(np.corrcoef(_ranks(first), _ranks(second))[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    for value in np.unique(values[np.diff(np.sort(values), prepend=np.nan) == 0]):
        ranks[values == value] = ranks[values == value].mean()
    return ranks


class Probe:
    """Runs a module list on the sample: pair scores for the bar, and a timed pass over short and long inputs.

    A bi-encoder's pair score is the cosine of its two sentence embeddings; a cross-encoder's is its logits.
    """

    def __init__(self, modules: list[Any], settings: AutoSettings) -> None:
        self.is_classifier = hasattr(modules[0], "logits")
        labelled = settings.pairs is not None
        self.pairs = [(a, b) for a, b, _ in settings.pairs] if labelled else builtin_pairs()
        self.gold = np.array([score for *_, score in settings.pairs]) if labelled else None
        first = modules[0]
        texts = sorted({text for pair in self.pairs for text in pair})
        if self.is_classifier:
            self.score_rows = first.tokenize_pairs_unpadded(self.pairs)[0]
            workload = first.tokenize_pairs_unpadded(
                [*self.pairs[:64], *zip(long_texts(), long_texts()[1:], strict=False)]
            )[0]
        else:
            self.texts = texts
            self.score_rows = first.tokenize_unpadded(texts)[0]
            workload = first.tokenize_unpadded([*texts, *long_texts()])[0]
        self.timing_rows = sorted(workload, key=lambda row: len(row["input_ids"]))
        self.calibration_texts = self.pairs if self.is_classifier else [*texts, *long_texts()]

    def outputs(self, modules: list[Any]) -> np.ndarray:
        """Sentence embeddings of the sample's texts (bi-encoder) or logits of its pairs (cross-encoder)."""
        return np.concatenate([self._run(modules, batch) for batch in _batches(self.score_rows)])

    def pair_scores(self, outputs: np.ndarray) -> np.ndarray:
        if self.is_classifier:
            return outputs.reshape(len(self.pairs), -1)[:, 0]
        index = {text: row for row, text in enumerate(self.texts)}
        normed = outputs / np.linalg.norm(outputs, axis=1, keepdims=True)
        return np.array([normed[index[a]] @ normed[index[b]] for a, b in self.pairs])

    def seconds(self, modules: list[Any]) -> float:
        """Wall time of one pass over the timing workload (the sample's texts plus long paragraphs)."""
        start = time.perf_counter()
        for batch in _batches(self.timing_rows):
            self._run(modules, batch)
        return time.perf_counter() - start

    def warm_up(self, modules: list[Any]) -> None:
        """One short and one long batch: first runs allocate buffers and compile kernels for new shapes."""
        self._run(modules, self.timing_rows[:BATCH_ROWS])
        self._run(modules, self.timing_rows[-LONG_TEXTS:])

    def _run(self, modules: list[Any], rows: list[dict]) -> np.ndarray:
        first = modules[0]
        with torch.inference_mode():
            features = first.pad(rows)
            if self.is_classifier:
                return first.logits(features).float().numpy()
            for module in modules:
                features = module(features)
            if "sentence_embedding" not in features:  # a pipeline without pooling: compare mean token vectors
                return features["token_embeddings"].mean(dim=1).float().numpy()
            return features["sentence_embedding"].float().numpy()


def _batches(rows: list[dict]) -> list[list[dict]]:
    return [rows[start : start + BATCH_ROWS] for start in range(0, len(rows), BATCH_ROWS)]


def judge(probe: Probe, quality: str, reference: np.ndarray, outputs: np.ndarray) -> dict[str, float | bool | str]:
    """Whether a candidate's outputs pass the bar against torch's fp32 outputs, with the measure and values."""
    if quality == "exact":
        difference = float(np.abs(outputs - reference).max())
        return {"measure": "max abs difference", "value": difference, "passed": difference <= EXACT_TOLERANCE}
    scores, fp32 = probe.pair_scores(outputs), probe.pair_scores(reference)
    if probe.gold is not None:
        value, floor = spearman(scores, probe.gold), spearman(fp32, probe.gold) - RANK_TOLERANCE
        return {"measure": "Spearman with the labels", "value": value, "floor": floor, "passed": value >= floor}
    value = spearman(scores, fp32)
    floor = AGREEMENT_FLOOR
    return {"measure": "Spearman with fp32", "value": value, "floor": floor, "passed": value >= floor}


# ----- files and the cache ------------------------------------------------------------------------------------


def model_cache_folder(transformer: Any, cache_folder: str | None) -> Path:
    """`<cache folder>/auto-backend/<key>`: the key covers the model's folder, its weights' fingerprint and class."""
    source = checkpoint_folder(transformer)
    name = str(source.resolve()) if source else str(getattr(transformer.auto_model, "name_or_path", "unknown"))
    material = "|".join([name, exporting.checkpoint_fingerprint(source), type(transformer).__name__])
    return exporting.cache_root(cache_folder) / CACHE_FOLDER / hashlib.sha256(material.encode()).hexdigest()[:16]


def choice_file(folder: Path, cpu: CpuFeatures, settings: AutoSettings) -> Path:
    """The decision file for this CPU, bar, sample and thread count (and the runtimes' versions)."""
    material = [cpu.signature(), settings.quality, str(settings.calibrate), str(_threads(settings)), __version__]
    material += [_version(package) for package in ("onnxruntime", "openvino", "nncf")]
    if settings.pairs is not None:
        material.append(hashlib.sha256(json.dumps(settings.pairs).encode()).hexdigest())
    return folder / f"choice-{hashlib.sha256('|'.join(material).encode()).hexdigest()[:16]}.json"


def _threads(settings: AutoSettings) -> int:
    return settings.num_threads or default_num_threads()


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{package}={version(package)}"
    except PackageNotFoundError:
        return f"{package}=none"


def read_choice(path: Path) -> BackendChoice | None:
    """A cached choice whose files still exist, else None."""
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if stored.pop("format", None) != CHOICE_FORMAT:
        return None
    file_name = stored.get("options", {}).get("file_name")
    if file_name is not None and not Path(file_name).is_file():
        return None
    return BackendChoice(**{**stored, "cached": True})


def write_choice(path: Path, choice: BackendChoice) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    scratch.write_text(json.dumps({"format": CHOICE_FORMAT, **asdict(choice)}, indent=1), encoding="utf-8")
    os.replace(scratch, path)


def candidate_options(
    candidate: Candidate, transformer: Any, probe: Probe, folder: Path, cpu: CpuFeatures, cache_folder: str | None
) -> dict[str, Any]:
    """The backend options that run `candidate`, making its int8 file in `folder` when it is not there yet."""
    if candidate in (TORCH, ONNX, OPENVINO):
        return {}
    if candidate is OPENVINO_BF16:
        return {"inference_precision": "bf16"}
    if candidate is ONNX_INT8:
        config = "arm64" if cpu.isa == ARM64 else "avx2"  # 7-bit weights: safe without VNNI, as fast with it
        target = folder / f"model_qint8_{config}.onnx"
        if not target.is_file():
            quantize_dynamic_int8(ensure_export(transformer, cache_folder), transformer.config, config, target)
        return {"file_name": str(target)}
    target = folder / "openvino_model_qint8.xml"
    if not target.is_file():
        texts = probe.calibration_texts
        source = ensure_export(transformer, cache_folder)
        config = OVQuantizationConfig(num_samples=len(texts))
        quantize_static_int8(source, transformer.tokenizer, texts, transformer.max_seq_length, config, target)
    options: dict[str, Any] = {"file_name": str(target)}
    if candidate is OPENVINO_INT8_BF16:
        options["inference_precision"] = "bf16"
    return options


# ----- the choice --------------------------------------------------------------------------------------------


def choice_off_cpu(device: str, options: dict[str, Any]) -> BackendChoice:
    """torch, unmeasured, for a model that will run on `device` (a GPU): the other paths run on the CPU."""
    settings = AutoSettings.of(options)
    reason = f"the model runs on {device}; backend='auto' chooses among CPU paths, so torch runs it there"
    return BackendChoice("torch", "as loaded", "torch", reason, settings.quality, cpu=device)


Builder = Callable[[list[Any], str, dict[str, Any], "str | None"], list[Any]]


def choose_backend(
    modules: list[Any], options: dict[str, Any], cache_folder: str | None, build: Builder
) -> tuple[BackendChoice, list[Any] | None]:
    """The backend and options for `modules` (whose first module is a Transformer) on this CPU under the bar,
    with the module list already built on it when it was measured here (None when the choice was cached).

    `options` are the auto_* options plus num_threads; `build(modules, runtime, options, cache_folder)` returns
    the module list running on a runtime. A cached choice for this model, CPU and bar is reused.
    """
    settings = AutoSettings.of(options)
    cpu = detect_cpu()
    transformer = modules[0]
    folder = model_cache_folder(transformer, cache_folder)
    decision = choice_file(folder, cpu, settings)
    with exclusive(folder):  # processes loading the same model at once (server workers) measure it once
        cached = read_choice(decision)
        if cached is not None:
            logger.info("backend='auto' (%s bar) reuses its choice for this CPU: %s", settings.quality, cached)
            return cached, None
        candidates, rule = shortlist(cpu, settings.quality, nncf_installed())
        choice, runnable = measure_candidates(modules, candidates, rule, settings, cpu, folder, cache_folder, build)
        write_choice(decision, choice)
    logger.info("backend='auto' (%s bar) chose %s", settings.quality, choice)
    return choice, runnable


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold an advisory lock on `folder` (POSIX; elsewhere no lock), so one process makes its files at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def measure_candidates(
    modules: list[Any],
    candidates: list[Candidate],
    rule: str,
    settings: AutoSettings,
    cpu: CpuFeatures,
    folder: Path,
    cache_folder: str | None,
    build: Builder,
) -> tuple[BackendChoice, list[Any]]:
    """Check each candidate against the bar, time those that pass when there is more than one, pick one."""
    probe = Probe(modules, settings)
    reference = probe.outputs(modules)
    measurements: dict[str, dict[str, float | bool | str]] = {}
    passing: dict[Candidate, tuple[list[Any], dict[str, Any]]] = {}
    for tier in _tiers(candidates):
        for candidate in tier:
            result = try_candidate(candidate, modules, probe, reference, settings, cpu, folder, cache_folder, build)
            measurements[candidate.name] = result[0]
            if result[0]["passed"]:
                passing[candidate] = result[1:]
        if passing:
            break
    if not passing:  # torch is the reference itself: reached only when its own path could not be built
        passing[TORCH] = (modules, {})
    winner, reason = pick(passing, probe, settings, measurements, rule)
    choice = BackendChoice(
        backend=winner.runtime,
        precision=winner.precision,
        candidate=winner.name,
        reason=reason,
        quality=settings.quality,
        cpu=cpu.signature(),
        options=passing[winner][1],
        measurements=measurements,
    )
    return choice, passing[winner][0]


def _tiers(candidates: list[Candidate]) -> list[list[Candidate]]:
    """Reduced precisions first; fp32 only when none of them passes (int8 and bf16 beat fp32 on every CPU where
    they run natively, so the fp32 paths are not worth timing next to one that passed)."""
    reduced = [candidate for candidate in candidates if candidate.precision != "fp32"]
    return [tier for tier in (reduced, [c for c in candidates if c.precision == "fp32"]) if tier]


def try_candidate(
    candidate: Candidate,
    modules: list[Any],
    probe: Probe,
    reference: np.ndarray,
    settings: AutoSettings,
    cpu: CpuFeatures,
    folder: Path,
    cache_folder: str | None,
    build: Builder,
) -> tuple[dict[str, float | bool | str], list[Any], dict[str, Any]]:
    """(the candidate's quality against the bar, its module list, its backend options); a candidate that cannot
    run here (a runtime missing, a file refused) fails with the error recorded."""
    threads = {"num_threads": settings.num_threads} if settings.num_threads else {}
    try:
        options = candidate_options(candidate, modules[0], probe, folder, cpu, cache_folder)
        runnable = build(list(modules), candidate.runtime, {**options, **threads}, cache_folder)
    except (ImportError, OSError, ValueError, RuntimeError) as error:
        logger.info("backend='auto' cannot run %s here: %s", candidate.name, error)
        return {"passed": False, "error": f"{type(error).__name__}: {error}"}, [], {}
    return judge(probe, settings.quality, reference, probe.outputs(runnable)), runnable, options


def pick(
    passing: dict[Candidate, tuple[list[Any], dict[str, Any]]],
    probe: Probe,
    settings: AutoSettings,
    measurements: dict[str, dict[str, float | bool | str]],
    rule: str,
) -> tuple[Candidate, str]:
    """The fastest passing candidate by a timed run (best of TIMING_ROUNDS, interleaved), or by the rule's order
    when there is one candidate or timing is off."""
    if len(passing) == 1 or not settings.calibrate:
        winner = next(iter(passing))
        return winner, f"{rule}; first candidate passing the {settings.quality} bar (not timed)"
    best = dict.fromkeys(passing, float("inf"))
    for runnable, _ in passing.values():
        probe.warm_up(runnable)
    for _ in range(TIMING_ROUNDS):
        for candidate, (runnable, _) in passing.items():
            best[candidate] = min(best[candidate], probe.seconds(runnable))
    for candidate, seconds in best.items():
        measurements[candidate.name]["seconds"] = seconds
    winner = min(best, key=best.get)
    return winner, f"{rule}; fastest of {', '.join(c.name for c in passing)} in a timed run on this machine"
