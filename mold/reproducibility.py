"""What makes a CPU run repeat to the byte on another machine: which instruction set torch's, MKL's and
oneDNN's kernels may use. Floating-point sums come out differently when a kernel uses 512-bit instead of
256-bit vectors, so a run pinned to AVX2 gives the same bits on every x86 CPU that has AVX2 (see
docs/reproducibility.md). The pins are environment variables read when torch loads its libraries, so
`pin_cpu_kernels` must run before `import torch`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

import yaml

CpuKernels = Literal["native", "avx2"]

# torch's own vectorised kernels, MKL's BLAS code path (conditional numerical reproducibility) and oneDNN's.
PIN_ENV: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
}
PIN_VARIABLES = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")


class PinTooLate(RuntimeError):
    """torch was imported before the CPU kernels were pinned, so the pin would not take effect."""


def pin_cpu_kernels(kernels: CpuKernels) -> None:
    """Set the environment that pins CPU kernels to `kernels` ("native": leave the CPU's best)."""
    wanted = PIN_ENV[kernels]
    if "torch" in sys.modules and any(os.environ.get(k) != v for k, v in wanted.items()):
        raise PinTooLate(f"cpu_kernels={kernels} must be applied before torch is imported")
    os.environ.update(wanted)


def requested_kernels(config_path: Path | str) -> CpuKernels:
    """The `cpu_kernels` a config file asks for, read from the raw YAML: validating a config may import torch
    (model classes are checked), so the pin has to come first. A missing or bad value reads as "native"
    here; validation, which runs next, names a bad one."""
    try:
        raw = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "native"  # load_config reports the file's problem
    value = raw.get("cpu_kernels", "native") if isinstance(raw, dict) else "native"
    return value if value in PIN_ENV else "native"


def cpu_fingerprint() -> dict:
    """What the kernels actually ran with, for provenance: torch's dispatch level and the pins in effect."""
    import torch

    return {
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": torch.get_num_threads(),
        "pins": {k: os.environ[k] for k in PIN_VARIABLES if k in os.environ},
    }
