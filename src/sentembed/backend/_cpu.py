"""What this CPU computes fast: its instruction-set class, read from the CPU flags, or capped by SENTEMBED_CPU_ISA.

`backend="auto"` picks its candidates from the class. Setting `SENTEMBED_CPU_ISA=avx2` (or another class below the
CPU's own) makes the choice as it would be on such a CPU; `emulation_environment` gives the variables that also cap
the runtimes' kernels (oneDNN in torch and OpenVINO, MKL, torch's own kernels), which must be set before the
runtimes are imported, e.g. in the environment of a new process.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

ISA_VARIABLE = "SENTEMBED_CPU_ISA"
# The x86 classes from the least to the most capable. Each includes everything of the ones before it:
# avx2 (AVX2 + FMA), avx512 (AVX-512 F/BW/VL, no VNNI), avx512_vnni (int8 dot products in one instruction),
# avx512_bf16 (bf16 dot products too), amx (Intel AMX tiles for int8 and bf16).
ISA_CLASSES = ("avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx")
ARM64 = "arm64"
OTHER = "other"
# oneDNN's names for the caps (read by torch's oneDNN and OpenVINO's CPU plugin), MKL's and torch's own.
_EMULATION = {
    "avx2": ("AVX2", "AVX2", "avx2"),
    "avx512": ("AVX512_CORE", "AVX512", "avx512"),
    "avx512_vnni": ("AVX512_CORE_VNNI", "AVX512_E1", "avx512"),
    "avx512_bf16": ("AVX512_CORE_BF16", "AVX512_E3", "avx512"),
    "amx": ("AVX512_CORE_AMX", "AVX512_E4", "avx512"),
}


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's name and instruction-set class, and whether the class was capped by SENTEMBED_CPU_ISA.

    `isa` is one of ISA_CLASSES on x86, "arm64" on 64-bit ARM, else "other". `avx_vnni` marks AVX2-class CPUs
    with the 256-bit VNNI instructions (Alder Lake and later), which OpenVINO's int8 kernels use as well.

    Attributes:
        name: The CPU's model name.
        isa: Its instruction-set class.
        avx_vnni: Whether it has AVX-VNNI.
        emulated: Whether the class was capped below the CPU's own.
    """

    name: str
    isa: str
    avx_vnni: bool = False
    emulated: bool = False

    @property
    def vnni(self) -> bool:
        """Whether int8 dot products take one instruction (AVX-512 VNNI, AVX-VNNI or AMX)."""
        return self.avx_vnni or self.at_least("avx512_vnni")

    @property
    def bf16(self) -> bool:
        """Whether bf16 dot products are native (AVX512_BF16 or AMX)."""
        return self.at_least("avx512_bf16")

    def at_least(self, isa: str) -> bool:
        """Whether this CPU's class includes `isa`.

        Args:
            isa: One of ISA_CLASSES.

        Returns:
            True when this CPU's class is that one or above (never for ARM or other CPUs).
        """
        return self.isa in ISA_CLASSES and ISA_CLASSES.index(self.isa) >= ISA_CLASSES.index(isa)

    def signature(self) -> str:
        """What a cached choice depends on: the CPU's name and its (possibly capped) class.

        Returns:
            "name|isa[+avx_vnni][|emulated]".
        """
        vnni = "+avx_vnni" if self.avx_vnni else ""
        return f"{self.name}|{self.isa}{vnni}{'|emulated' if self.emulated else ''}"


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty elsewhere)."""
    info = Path("/proc/cpuinfo")
    if not info.is_file():
        return set()
    for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def isa_from_flags(flags: set[str], machine: str) -> str:
    """The instruction-set class the flags show."""
    if machine.lower() in ("aarch64", "arm64"):
        return ARM64
    if "amx_int8" in flags and "amx_bf16" in flags:
        return "amx"
    if "avx512_bf16" in flags:
        return "avx512_bf16"
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if {"avx512f", "avx512bw", "avx512vl"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return OTHER


def capped_isa(isa: str, cap: str) -> str:
    """The lower of the CPU's class and the cap asked for in SENTEMBED_CPU_ISA."""
    if cap not in ISA_CLASSES:
        raise ValueError(f"{ISA_VARIABLE}={cap!r} is not a CPU class; use one of {', '.join(ISA_CLASSES)}")
    if isa not in ISA_CLASSES:
        raise ValueError(f"{ISA_VARIABLE}={cap!r} caps x86 classes, but this CPU's class is {isa!r}")
    return ISA_CLASSES[min(ISA_CLASSES.index(isa), ISA_CLASSES.index(cap))]


def detect_cpu(cap: str | None = None) -> CpuFeatures:
    """This CPU's features, capped at `cap` or else at the SENTEMBED_CPU_ISA variable when it is set.

    A cap above what the CPU has changes nothing (a CPU cannot be emulated upwards).

    Args:
        cap: An instruction-set class to cap at (one of ISA_CLASSES). Default None: SENTEMBED_CPU_ISA, if set.

    Returns:
        The CPU's features.
    """
    flags = cpu_flags()
    isa = isa_from_flags(flags, platform.machine())
    cap = cap or os.environ.get(ISA_VARIABLE) or None
    avx_vnni = "avx_vnni" in flags
    if cap is None:
        return CpuFeatures(cpu_name(), isa, avx_vnni)
    capped = capped_isa(isa, cap.strip().lower())
    # AVX-VNNI came after AVX-512 VNNI: an emulated older CPU does not have it.
    return CpuFeatures(cpu_name(), capped, avx_vnni and capped == isa, emulated=capped != isa)


def emulation_environment(isa: str) -> dict[str, str]:
    """Environment variables that make this process's runtimes and `backend="auto"` behave as on an `isa` CPU.

    They cap oneDNN (torch and OpenVINO's CPU plugin: ONEDNN_MAX_CPU_ISA), MKL (MKL_ENABLE_INSTRUCTIONS) and
    torch's own kernels (ATEN_CPU_CAPABILITY); they take effect only in a process that sets them before it
    imports torch or OpenVINO. onnxruntime has no such cap: its kernels (MLAS) read the CPU's own flags.

    Args:
        isa: The class to emulate, one of ISA_CLASSES.

    Returns:
        Variable name -> value.

    Raises:
        ValueError: A class that cannot be emulated.
    """
    if isa not in _EMULATION:
        raise ValueError(f"cannot emulate {isa!r}; use one of {', '.join(ISA_CLASSES)}")
    onednn, mkl, aten = _EMULATION[isa]
    return {
        ISA_VARIABLE: isa,
        "ONEDNN_MAX_CPU_ISA": onednn,
        "DNNL_MAX_CPU_ISA": onednn,
        "MKL_ENABLE_INSTRUCTIONS": mkl,
        "ATEN_CPU_CAPABILITY": aten,
    }
