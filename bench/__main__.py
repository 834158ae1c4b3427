"""``python -m bench``: run every benchmark module of this package (``*_bench.py``).

``--only NAME`` (repeatable) picks modules by name, with or without ``_bench``;
any other argument goes to the chosen modules' own ``main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

SUFFIX = "_bench"


def discover() -> list[str]:
    """Names of the benchmark modules beside this file."""
    folder = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([folder]) if m.name.endswith(SUFFIX))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this benchmark")
    args, rest = parser.parse_known_args(argv)
    available = discover()
    chosen = available
    if args.only:
        wanted = [name if name.endswith(SUFFIX) else name + SUFFIX for name in args.only]
        unknown = sorted(set(wanted) - set(available))
        if unknown:
            parser.error(f"no benchmark {', '.join(unknown)}; available: {', '.join(available)}")
        chosen = wanted
    status = 0
    for name in chosen:
        print(f"== {name}", flush=True)
        module = importlib.import_module(f"bench.{name}")
        status = max(status, int(module.main(rest) or 0))
    return status


if __name__ == "__main__":
    sys.exit(main())
