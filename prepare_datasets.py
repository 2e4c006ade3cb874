"""Load the NER datasets, print the seed paper's Tables I and II (ours / paper), write stats and dataset cards.

    python prepare_datasets.py [--data_dir DIR] [--output_dir OUT] [--strict_bio] [--push_to_hub ORG] [NAMES...]

Without NAMES: every registered dataset whose folder exists under the data dir, plus ``demo``; the ones that
are missing (Reddit-Impacts is not public) are reported, not fatal. Writes ``OUT/tables.md``,
``OUT/stats.json`` and ``OUT/<name>/README.md`` (a dataset card). ``--push_to_hub ORG`` uploads each dataset
as ``ORG/<name>`` with its card, using the token of the usual HF login or environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from bioner.cards import dataset_card
from bioner.data import REGISTERED_DATASETS, DataFormatError, dataset_dir, load_ner_dataset
from bioner.stats import dataset_statistics, format_table1, format_table2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "names", nargs="*", help="registered names, data folders or Hub ids (default: all present)"
    )
    parser.add_argument(
        "--data_dir", default=None, help="folder of <name>/{train,dev,test}.tsv (or BIONER_DATA_DIR)"
    )
    parser.add_argument("--output_dir", default="outputs/datasets", help="where tables, stats and cards go")
    parser.add_argument(
        "--strict_bio", action="store_true", help="fail on IOB1/stray I- tags instead of repairing"
    )
    parser.add_argument("--push_to_hub", metavar="ORG", default=None, help="push each dataset as ORG/<name>")
    return parser.parse_args(argv)


def available_names(data_dir: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Registered datasets whose folder exists (plus demo), and why each of the others is missing."""
    present, missing = [], {}
    for name in (n for n in REGISTERED_DATASETS if n != "demo"):
        try:
            dataset_dir(name, data_dir)
            present.append(name)
        except DataFormatError as err:
            missing[name] = str(err)
    return [*present, "demo"], missing


def short_name(name: str) -> str:
    """Folder / repo name for a dataset given as a registered name, a folder path or a Hub id."""
    if name in REGISTERED_DATASETS:
        return name
    path = Path(name)
    return path.resolve().name if path.is_dir() else name.replace("/", "__")


def prepare(
    names: list[str],
    output_dir: str | Path,
    data_dir: str | None = None,
    strict_bio: bool = False,
    push_to_hub: str | None = None,
) -> dict[str, dict]:
    """Load each dataset, write its card and the combined tables/stats; return statistics by name."""
    output_dir = Path(output_dir)
    stats_by_name = {}
    for name in names:
        dsdict = load_ner_dataset(name, data_dir, strict_bio=strict_bio)
        short = short_name(name)
        stats = stats_by_name[short] = dataset_statistics(dsdict)
        card = dataset_card(short, dsdict, stats)
        (output_dir / short).mkdir(parents=True, exist_ok=True)
        (output_dir / short / "README.md").write_text(card, encoding="utf-8")
        if push_to_hub:
            from bioner.hub import push_dataset

            print(f"pushed {push_dataset(dsdict, f'{push_to_hub}/{short}', card, token=None)}")
    tables = f"## Table I: sentences\n\n{format_table1(stats_by_name)}\n\n"
    tables += f"## Table II: test entities by length in tokens\n\n{format_table2(stats_by_name)}\n"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "tables.md").write_text(tables, encoding="utf-8")
    (output_dir / "stats.json").write_text(json.dumps(stats_by_name, indent=2) + "\n", encoding="utf-8")
    print(tables)
    return stats_by_name


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    names = args.names
    if not names:
        names, missing = available_names(args.data_dir)
        for name, why in missing.items():
            print(f"skipping {name}: {why}", file=sys.stderr)
    expected: tuple[type[Exception], ...] = (DataFormatError,)
    if args.push_to_hub:
        from bioner.hub import HubPublishError

        expected += (HubPublishError,)
    try:
        prepare(names, args.output_dir, args.data_dir, args.strict_bio, args.push_to_hub)
    except expected as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.output_dir) / 'tables.md'}, stats.json and one README.md per dataset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
