"""Pre-build the offline models: ``python -m bioner.models.offline [ALIAS ...] [--cache_dir DIR]``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from bioner.models.offline.build import OfflineModelUnavailable
from bioner.models.registry import OFFLINE_MODELS, offline_model_dir


def main(argv: Sequence[str] | None = None) -> None:
    """Pre-build offline models: ``python -m bioner.models.offline [ALIAS ...] [--cache_dir DIR]``."""
    parser = argparse.ArgumentParser(prog="python -m bioner.models.offline", description=main.__doc__)
    parser.add_argument("aliases", nargs="*", default=list(OFFLINE_MODELS), help="default: all")
    parser.add_argument("--cache_dir", default=None, help="default: $BIONER_CACHE or ~/.cache/bioner")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    unknown = [a for a in args.aliases if a.lower() not in OFFLINE_MODELS]
    if unknown:
        parser.error(f"unknown alias {unknown}; known: {', '.join(OFFLINE_MODELS)}")
    for alias in args.aliases:
        try:
            print(f"{alias}: {offline_model_dir(alias, args.cache_dir)}")
        except OfflineModelUnavailable as error:
            parser.exit(1, f"error: {error}\n")


if __name__ == "__main__":
    main()
