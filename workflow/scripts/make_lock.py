"""Write requirements.lock: the exact versions of mold's dependency closure (with the dev extra) in this
environment, each with the sha256 of every file PyPI has for it, for `pip install --require-hashes --no-deps`.

Run after `pip install torch==2.13.0 -e .[dev]`, with uv on PATH (`pip install uv`): uv looks the hashes up
on the index; no version is re-resolved (`--no-deps` over the exact pins found here). torch is left out: it
is installed first from the CPU or the CUDA wheel index (README, .ci/run, Dockerfile), the one difference
between a CPU and a GPU install; its own dependencies are in the lock.
"""

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement


def closure(root: str = "mold", root_extras: frozenset[str] = frozenset({"dev"})) -> dict[str, str]:
    """Installed versions of everything `root` needs, following extras it asks for (e.g. fsspec[http])."""
    seen: dict[str, str] = {}
    extras_done: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, root_extras)]
    while todo:
        name, extras = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        new_extras = {e for e in extras if (key, e) not in extras_done}
        if key in seen and not new_extras:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        first_visit = key not in seen
        seen[key] = dist.version.split("+")[0]
        extras_done.update((key, e) for e in new_extras)
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None:
                needed = first_visit
            else:
                envs = ([{"extra": ""}] if first_visit else []) + [{"extra": e} for e in new_extras]
                needed = any(req.marker.evaluate(env) for env in envs)
            if needed:
                todo.append((req.name, frozenset(req.extras)))
    seen.pop(root, None)
    return seen


HEADER = """\
# Exact versions of mold's dependencies and the dev extra (Python 3.11), hash-pinned; torch is installed
# first from the CPU or CUDA wheel index. Install: pip install --require-hashes --no-deps -r requirements.lock
# Regenerate: python workflow/scripts/make_lock.py
"""


def hashed_lock(pins: dict[str, str]) -> str:
    uv = shutil.which("uv") or sys.exit("make_lock.py needs uv on PATH (pip install uv)")
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "pins.txt"
        source.write_text("".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
        out = subprocess.run([uv, "pip", "compile", str(source), "--no-deps", "--generate-hashes", "--no-header",
                              "--no-annotate", "--python-version", "3.11", "--index-url", "https://pypi.org/simple"],
                             capture_output=True, text=True, check=True)
    return HEADER + out.stdout


if __name__ == "__main__":
    pins = closure()
    pins.pop("torch")
    Path("requirements.lock").write_text(hashed_lock(pins))
    print(f"{len(pins)} hash-pinned packages written to requirements.lock (torch apart)")
