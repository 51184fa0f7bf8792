"""Where MoLSAKI's extra CPU time goes: statement-level timing of the CPU stepwise-attention call.

    python bench/profile_stepwise.py --shape mini --steps 30

Runs full MoLSAKI training steps (the same closure as `bench/train_step.py`) with a copy of
`mold.stepwise_cpu` whose forward, backward and helper functions time every top-level statement
(wall clock around each one; nested calls are timed inside their caller's line too). Prints the
mean process CPU time per step and the statements by total time per step. A diagnostic, not a
ratio: the timers add a few microseconds per statement.
"""

from __future__ import annotations

import argparse
import ast
import collections
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

TIMED = {"forward", "backward", "_flash_backward_raised", "_lift_for_extra", "_add_pooling_grad", "word_columns",
         "_word_columns"}


class _TimeStatements(ast.NodeTransformer):
    """Wrap every top-level statement of the `TIMED` functions in a timer keyed by its first line."""

    def __init__(self, source: str):
        self.source = source

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if node.name not in TIMED:
            return node
        body: list[ast.stmt] = []
        for statement in node.body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):  # docstring
                body.append(statement)
                continue
            key = f"{node.name}:{statement.lineno}: " + ast.get_source_segment(self.source, statement).split("\n")[0].strip()[:72]
            start = ast.parse("_started = _clock()").body
            stop = ast.parse(f"_TIMES[{key!r}] += _clock() - _started").body
            if isinstance(statement, ast.Return) and statement.value is not None:
                result = ast.Assign(targets=[ast.Name("_result", ast.Store())], value=statement.value)
                body += start + [result] + stop + [ast.Return(ast.Name("_result", ast.Load()))]
            else:
                body += start + [statement] + stop
        node.body = body
        return node


def timed_stepwise_cpu(times: collections.defaultdict) -> dict:
    """The namespace of an instrumented copy of `mold.stepwise_cpu`."""
    import mold.stepwise_cpu as original

    source = Path(original.__file__).read_text()
    tree = ast.fix_missing_locations(_TimeStatements(source).visit(ast.parse(source)))
    namespace = {"__name__": original.__name__, "_clock": time.perf_counter, "_TIMES": times}
    exec(compile(tree, original.__file__, "exec"), namespace)
    return namespace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="mini", choices=["mini", "gpt2-medium", "gpt2-large", "tinyllama"])
    parser.add_argument("--layers", type=int)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--n-steps", type=int, default=8)
    parser.add_argument("--n-words", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    args.attn, args.bf16 = "efficient", False

    import torch

    import mold.molsaki.stepwise_sdpa as kernel
    from train_step import make_step

    torch.set_num_threads(1)
    times: collections.defaultdict = collections.defaultdict(float)
    instrumented = timed_stepwise_cpu(times)
    kernel.flash_cpu_stepwise, kernel.word_columns = instrumented["flash_cpu_stepwise"], instrumented["word_columns"]
    step = make_step(args, "molsaki", torch.device("cpu"))
    for _ in range(3):
        step()
    times.clear()
    start = time.process_time()
    for _ in range(args.steps):
        step()
    print(f"{args.shape} molsaki step {(time.process_time() - start) / args.steps * 1000:.1f} ms (process CPU time, timers included)")
    for key, seconds in sorted(times.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{seconds / args.steps * 1000:8.3f} ms/step  {key}")


if __name__ == "__main__":
    main()
