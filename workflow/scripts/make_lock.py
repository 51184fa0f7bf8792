"""Write requirements.lock: the exact versions of mold's dependency closure in this environment.

Run after `pip install torch==2.13.0 -e .[dev]`. torch's local tag (+cpu/+cu128) is dropped:
the Dockerfile takes torch from the CUDA wheel index at the same version.
"""

import importlib.metadata as md
import re
from pathlib import Path

from packaging.requirements import Requirement


def closure(root: str = "mold") -> dict[str, str]:
    """Installed versions of everything `root` needs, following extras it asks for (e.g. fsspec[http])."""
    seen: dict[str, str] = {}
    extras_done: set[tuple[str, str]] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
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


if __name__ == "__main__":
    pins = closure()
    header = "# Exact versions of mold's dependencies (Python 3.11). Regenerate: python workflow/scripts/make_lock.py\n"
    Path("requirements.lock").write_text(header + "".join(f"{k}=={v}\n" for k, v in sorted(pins.items())))
    print(f"{len(pins)} pins written to requirements.lock")
