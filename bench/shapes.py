"""Model shapes for the benchmarks: the paper's models at real size (random init) and mini."""

from __future__ import annotations

SHAPES: dict[str, dict] = {
    "mini": {"arch": "gpt2", "tiny": {"hidden_size": 64, "num_layers": 3, "num_heads": 4, "max_positions": 512}, "vocab": 900},
    "gpt2-medium": {"arch": "gpt2", "tiny": {"hidden_size": 1024, "num_layers": 24, "num_heads": 16, "max_positions": 1024}, "vocab": 50257},
    "gpt2-large": {"arch": "gpt2", "tiny": {"hidden_size": 1280, "num_layers": 36, "num_heads": 20, "max_positions": 1024}, "vocab": 50257},
    "tinyllama": {"arch": "llama", "tiny": {"hidden_size": 2048, "num_layers": 22, "num_heads": 32, "num_kv_heads": 4,
                                            "intermediate_size": 5632, "max_positions": 2048}, "vocab": 32000},
    "llama3-8b": {"arch": "llama", "tiny": {"hidden_size": 4096, "num_layers": 32, "num_heads": 32, "num_kv_heads": 8,
                                            "intermediate_size": 14336, "max_positions": 8192}, "vocab": 128256},
    "qwen2.5-32b": {"arch": "qwen2", "tiny": {"hidden_size": 5120, "num_layers": 64, "num_heads": 40, "num_kv_heads": 8,
                                              "intermediate_size": 27648, "max_positions": 8192}, "vocab": 152064},
}


class _VocabOnly:
    """The three ids and the length a config needs from a tokenizer."""

    def __init__(self, size: int):
        self.size, self.bos_token_id, self.eos_token_id, self.pad_token_id = size, 0, 1, 1

    def __len__(self) -> int:
        return self.size


def build(shape: str, layers: int | None, attn_implementation: str, dtype=None, device=None):
    """A random-init model of `shape` (optionally fewer layers: a scaled-down paper shape), created
    directly on `device` in `dtype` (a 32B model never passes through CPU memory)."""
    import torch

    from mold.models.factory import causal_lm_class, tiny_config
    from mold.config import TinyShape

    entry = SHAPES[shape]
    tiny = TinyShape(**dict(entry["tiny"], **({"num_layers": layers} if layers else {})))
    config = tiny_config(entry["arch"], tiny, _VocabOnly(entry["vocab"]))
    config._attn_implementation = attn_implementation
    torch.manual_seed(0)
    with torch.device(device or "cpu"):
        model = causal_lm_class(entry["arch"])._from_config(config, dtype=dtype or torch.float32)
    return model


def measure(fn, warmup: int, repeat: int, device) -> tuple[float, int]:
    """Median seconds of `fn()` over `repeat` runs after `warmup`, and peak memory in bytes.

    CUDA: wall time and max allocated during the timed runs. CPU: the process's CPU time (with one
    thread it equals wall time on an idle machine, and other load on the machine barely moves it)
    and its peak RSS."""
    import resource
    import time

    import torch

    cuda = device.type == "cuda"
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    clock = time.perf_counter if cuda else time.process_time
    times = []
    for _ in range(repeat):
        start = clock()
        fn()
        if cuda:
            torch.cuda.synchronize()
        times.append(clock() - start)
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return _median(times), peak


def run_variant(make, args, name: str) -> dict:
    """Build `make(args, name, device)` on the GPU if there is one (else CPU) and measure it:
    {"name", "seconds", "peak_bytes", "device"}. This is what each benchmark subprocess prints."""
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    seconds, peak = measure(make(args, name, device), args.warmup, args.repeat, device)
    return {"name": name, "seconds": seconds, "peak_bytes": peak, "device": str(device)}


def run_interleaved(make, args, names, base: str) -> dict[str, dict]:
    """CPU: every variant's median seconds and its time ratio to `base`, from runs interleaved in one
    process (load from elsewhere on the machine then falls on all of them alike), with a 95% bootstrap
    interval of that ratio: {name: {"seconds", "ratio", "low", "high"}}."""
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    times = measure_interleaved({name: make(args, name, device) for name in names}, args.warmup, args.repeat)
    return {name: {"seconds": _median(ts), "ratio": paired_ratio(ts, times[base]),
                   **dict(zip(("low", "high"), ratio_interval(ts, times[base])))} for name, ts in times.items()}


def describe_interleaved(interleaved: dict[str, dict], base: str, what: str) -> str:
    """The two lines `run_interleaved`'s result prints: `what` times per variant, and each ratio's interval."""
    times = ", ".join(f"{name} {r['seconds'] * 1000:.1f} ms" for name, r in interleaved.items())
    intervals = ", ".join(f"{name}/{base} {r['low']:.3f}–{r['high']:.3f}" for name, r in interleaved.items() if name != base)
    return (f"CPU {what}, interleaved in one process (the ratios are medians of same-cycle ratios): {times}\n"
            f"95% bootstrap intervals of those ratios over the cycles: {intervals}")


def measure_interleaved(steps: dict, warmup: int, repeat: int) -> dict[str, list[float]]:
    """CPU: process CPU seconds of each closure over `repeat` cycles; each cycle runs every closure
    once, in alternating order."""
    import time

    for fn in steps.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in steps}
    order = list(steps.items())
    for cycle in range(repeat):
        for name, fn in order if cycle % 2 == 0 else order[::-1]:
            start = time.process_time()
            fn()
            times[name].append(time.process_time() - start)
    return times


def paired_ratio(times: list[float], base: list[float]) -> float:
    """Median over cycles of time / base time in the same cycle: drift in machine speed between
    cycles cancels out."""
    return _median([t / b for t, b in zip(times, base)])


def ratio_interval(times: list[float], base: list[float], level: float = 0.95, resamples: int = 2000) -> tuple[float, float]:
    """Bootstrap interval of `paired_ratio`: cycles resampled with replacement (fixed seed, so a rerun
    on the same times gives the same interval). It says how far the ratio moves with the cycles drawn;
    slower drift of the machine that hits both alike is already divided out."""
    import random

    ratios = [t / b for t, b in zip(times, base)]
    draw = random.Random(0)
    medians = sorted(_median(draw.choices(ratios, k=len(ratios))) for _ in range(resamples))
    tail = (1 - level) / 2
    return medians[int(tail * resamples)], medians[min(int((1 - tail) * resamples), resamples - 1)]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def run_each_in_subprocess(script: str, flag: str, names, rounds: int = 1) -> dict[str, dict]:
    """Rerun `script` with this command line plus `flag NAME` for each name, each in a fresh
    process (so CPU peak RSS is per variant); return the JSON each printed last.

    With `rounds` > 1 the variants run interleaved, round after round, and each keeps its fastest
    round (time shared with other load on the machine only ever adds), with that round's peak memory.
    """
    import json
    import subprocess
    import sys

    own, skip = [], False  # this command line without `--rounds N` / `--rounds=N`
    for arg in sys.argv[1:]:
        if skip or arg.startswith("--rounds="):
            skip = False
        elif arg == "--rounds":
            skip = True
        else:
            own.append(arg)
    results: dict[str, dict] = {}
    for _ in range(rounds):
        for name in names:
            cmd = [sys.executable, script, *own, flag, name]
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            if name not in results or out["seconds"] < results[name]["seconds"]:
                results[name] = out
    return results
