"""onnxruntime sessions: thread count, execution provider and graph optimisation settings."""

from __future__ import annotations

import importlib
import threading
from types import SimpleNamespace
from typing import Any

from sentembed.common.runtime import default_num_threads

# The packages each runtime needs, and the sentembed extra that installs them.
RUNTIME_PACKAGES = {"onnx": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino")}
DEFAULT_PROVIDER = "CPUExecutionProvider"
# onnxruntime's CPU kernels for these two fused ops are slower than the ops they replace: on [1700, 384]
# activations SkipLayerNormalization took 4.5x as long as Add + LayerNormalization, and BiasGelu twice as
# long as Add + Gelu. CPU sessions and the CPU graphs of `optimize.fuse` keep those ops apart.
SLOW_CPU_FUSIONS = ("SkipLayerNormFusion", "BiasGeluFusion")


def require_runtime(runtime: str) -> None:
    """Refuse early, naming the extra to install, when a runtime's packages are missing."""
    missing = []
    for package in RUNTIME_PACKAGES[runtime]:
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise ImportError(
            f'backend="{runtime}" needs the {" and ".join(missing)} package(s): pip install "sentembed[{runtime}]"'
        )


def check_provider(provider: str) -> str:
    """Refuse an execution provider this onnxruntime build lacks, naming the ones it has."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if provider not in available:
        raise ValueError(f"onnxruntime provider {provider!r} is not available; this build has {available}")
    return provider


def create_session(model: str | bytes, provider: str = DEFAULT_PROVIDER, num_threads: int | None = None) -> Any:
    """An InferenceSession with every graph optimisation on (but the SLOW_CPU_FUSIONS on the CPU) and
    `num_threads` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = num_threads or default_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    # Idle workers would otherwise spin after each run and starve the torch ops that follow it (pooling
    # took 0.6 s instead of 0.05 s over 120 long texts on 2 cores).
    options.add_session_config_entry("session.force_spinning_stop", "1")
    disabled = list(SLOW_CPU_FUSIONS) if provider == DEFAULT_PROVIDER else None
    return onnxruntime.InferenceSession(
        model, options, providers=[check_provider(provider)], disabled_optimizers=disabled
    )


OPENVINO_DEVICE = "CPU"


def cpu_has_bf16() -> bool:
    """Whether OpenVINO computes bf16 natively on this CPU (AVX512_BF16 or AMX)."""
    require_runtime("openvino")
    import openvino

    return "BF16" in openvino.Core().get_property(OPENVINO_DEVICE, "OPTIMIZATION_CAPABILITIES")


class OpenVinoSession:
    """An OpenVINO compiled model behind the two calls sentembed makes of an onnxruntime session.

    OpenVINO reads the same ONNX export (or an `.xml` IR file) and applies its own fusions when compiling.
    """

    def __init__(self, model_path: str, num_threads: int | None = None, config: dict[str, Any] | None = None) -> None:
        require_runtime("openvino")
        import openvino

        core = openvino.Core()
        settings = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": num_threads or default_num_threads(),
            "INFERENCE_PRECISION_HINT": "f32",  # else CPUs with bf16 units silently run in bf16
        }
        settings.update(config or {})
        self.compiled = core.compile_model(core.read_model(model_path), OPENVINO_DEVICE, settings)
        self._requests = threading.local()  # an infer request is not to be shared between threads

    def get_inputs(self) -> list[Any]:
        """The graph's inputs, each with a `name`, as onnxruntime lists them."""
        return [SimpleNamespace(name=port.get_any_name()) for port in self.compiled.inputs]

    def run(self, output_names: Any, inputs: dict[str, Any]) -> list[Any]:
        """The outputs for one batch, copied out of the reused buffers of this thread's infer request."""
        request = getattr(self._requests, "request", None)
        if request is None:
            request = self._requests.request = self.compiled.create_infer_request()
        results = request.infer(inputs)
        return [results[output].copy() for output in self.compiled.outputs]
