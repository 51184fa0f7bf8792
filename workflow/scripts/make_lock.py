"""Write requirements.lock: the exact versions of mold's dependency closure in this environment.

Run after `pip install torch==2.13.0 -e .[dev]`. torch's local tag (+cpu/+cu128) is dropped:
the Dockerfile takes torch from the CUDA wheel index at the same version.
"""

import importlib.metadata as md
import re
from pathlib import Path


def closure(root: str = "mold") -> dict[str, str]:
    seen: dict[str, str] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[key] = dist.version.split("+")[0]
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            todo.append(re.split(r"[ ;<>=!~\[(]", req, maxsplit=1)[0])
    seen.pop(root, None)
    return seen


if __name__ == "__main__":
    pins = closure()
    header = "# Exact versions of mold's dependencies (Python 3.11). Regenerate: python workflow/scripts/make_lock.py\n"
    Path("requirements.lock").write_text(header + "".join(f"{k}=={v}\n" for k, v in sorted(pins.items())))
    print(f"{len(pins)} pins written to requirements.lock")
