"""GPU claims: how many devices a job needs, and the slot allocator that gives each job its own (docs/gpus.md).

Snakemake's `--resources gpu=N` caps how many GPUs the running jobs claim together, but hands no job
particular devices, so every job would open `cuda:0`. A job started with $MOLD_GPUS=k takes k device
slots here and sees only those (CUDA_VISIBLE_DEVICES). A slot is an exclusive `flock` on one file per
device in a lock folder shared by all jobs of the box; the kernel drops a flock when its holder exits
or is killed, so slots come back without any cleanup.
"""

from __future__ import annotations

import fcntl
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

GPUS_ENV = "MOLD_GPUS"  # set per job by the Snakefile from the rule's `gpu` resource
DEVICES_ENV = "MOLD_GPU_DEVICES"  # the device pool, e.g. "0,1,2,3"; default CUDA_VISIBLE_DEVICES or nvidia-smi
LOCK_DIR_ENV = "MOLD_GPU_LOCK_DIR"
WEIGHT_SHARE = 0.85  # share of a card's memory given to weights; the rest holds activations and the KV cache
BYTES_PER_PARAM = {"float32": 4, "bfloat16": 2}


def gpus_needed(params_billion: float, dtype: str, card_gb: float) -> int:
    """Cards whose WEIGHT_SHARE holds the weights: a 32.8B model in bf16 (65.6 GB) needs one 80 GB card
    (68 GB for weights) or two 40 GB cards."""
    weights_gb = params_billion * BYTES_PER_PARAM[dtype]
    return max(1, math.ceil(weights_gb / (card_gb * WEIGHT_SHARE)))


def device_pool() -> list[str]:
    """The devices jobs share: $MOLD_GPU_DEVICES, else CUDA_VISIBLE_DEVICES, else the GPUs nvidia-smi lists."""
    for env in (DEVICES_ENV, "CUDA_VISIBLE_DEVICES"):
        if env in os.environ:
            return [d.strip() for d in os.environ[env].split(",") if d.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


def default_lock_dir() -> Path:
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / f"mold-gpu-slots-{os.getuid()}")


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor drops the lock


class GpuClaim:
    """Devices held by this process until `release()` or its exit."""

    def __init__(self, held: list[tuple[str, int]]):
        self._held = held
        self.devices = [device for device, _ in held]

    def release(self) -> None:
        for _, fd in self._held:
            os.close(fd)
        self._held = []


def try_claim(count: int, pool: list[str], lock_dir: Path) -> GpuClaim | None:
    """Take `count` free slots now, or none (a partial take is given back)."""
    held: list[tuple[str, int]] = []
    with exclusive(lock_dir / "claim.lock"):  # claimants choose one at a time, so none takes a partial set
        for device in pool:
            fd = os.open(lock_dir / f"gpu-{device}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            held.append((device, fd))
            if len(held) == count:
                return GpuClaim(held)
    GpuClaim(held).release()
    return None


def claim(count: int, pool: list[str], lock_dir: Path | None = None, poll_s: float = 0.5,
          timeout_s: float | None = None) -> GpuClaim:
    """Wait until `count` devices of `pool` are free and take them."""
    if count > len(pool):
        raise ValueError(f"a job claims {count} GPUs but the box has {len(pool)} ({', '.join(pool) or 'none'})")
    lock_dir = lock_dir or default_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    while (taken := try_claim(count, pool, lock_dir)) is None:
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"{count} of GPUs {', '.join(pool)} not free after {timeout_s:.0f}s")
        time.sleep(poll_s)
    return taken


def claim_for_job() -> GpuClaim | None:
    """In a job started with $MOLD_GPUS=k on a box with GPUs: take k and restrict CUDA to them (before torch
    starts CUDA). Without GPUs (CPU boxes) nothing is claimed."""
    count = int(os.environ.get(GPUS_ENV) or 0)
    pool = device_pool()
    if count <= 0 or not pool:
        return None
    taken = claim(count, pool)
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(taken.devices)
    return taken
