"""Load the NER datasets, print the seed paper's Tables I and II (ours / paper), write stats and dataset
cards.

    python prepare_datasets.py [--data_dir DIR] [--output_dir OUT] [--strict_bio] [--push_to_hub ORG]
    [NAMES...] python prepare_datasets.py --from pubtator [--entity_types A=X,B=X] [--composite parent|parts]
    CORPUS_DIR python prepare_datasets.py --from brat --train_file T --dev_file D --test_file E NAME

A NAME that is a folder of PubTator, BioC or brat files (split by file name: train, dev/valid, test) is
converted to BIO (``bioner.corpora``; ``--from`` picks the format when several are there, the train/dev/test
files can also be given one by one); its card then holds the conversion report, and ``OUT/<name>/`` also gets
the converted ``{train,dev,test}.tsv`` and ``conversion.json``.

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

import datasets

from bioner.corpora import READ_FORMATS
from bioner.corpora.convert import COMPOSITE_CHOICES, DISCONTINUOUS_CHOICES, ConversionReport
from bioner.corpora.dataset import parse_entity_types
from bioner.corpora.sources import load_dataset_and_reports
from bioner.data.cards import dataset_card
from bioner.data.conll import label_names, write_conll
from bioner.data.files import DataFormatError
from bioner.data.registry import REGISTERED_DATASETS, dataset_dir
from bioner.data.splits import SPLITS, split_stem
from bioner.data.stats import dataset_statistics, format_table1, format_table2
from bioner.data.tags import tag_names
from bioner.data.text import DEFAULT_WORD_STYLE, WORD_STYLES
from bioner.hub import HubPublishError, push_dataset


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
    corpus = parser.add_argument_group("corpora as documents (PubTator, BioC, brat) converted to BIO")
    corpus.add_argument(
        "--from",
        dest="from_format",
        choices=("bioc", *READ_FORMATS),
        default=None,
        help="format of the document files (default: detected; PubTator first when a folder holds several)",
    )
    corpus.add_argument("--train_file", default=None, help="the train file (with --dev_file, --test_file)")
    corpus.add_argument("--dev_file", default=None)
    corpus.add_argument("--test_file", default=None)
    corpus.add_argument(
        "--entity_types",
        default=None,
        help="types to keep, renamed with =: 'Chemical,Disease' or"
        " 'SpecificDisease=Disease,Modifier=Disease'",
    )
    corpus.add_argument(
        "--composite",
        choices=COMPOSITE_CHOICES,
        default="parent",
        help="composite mentions as annotated (parent, default) or as their parts",
    )
    corpus.add_argument(
        "--discontinuous",
        choices=DISCONTINUOUS_CHOICES,
        default="cover",
        help="discontinuous mentions as their covering span (default) or left out (drop)",
    )
    corpus.add_argument(
        "--word_style",
        choices=WORD_STYLES,
        default=DEFAULT_WORD_STYLE,
        help="tokenization of the text (bioner.data.text)",
    )
    return parser.parse_args(argv)


def load_corpus(
    name: str, args: argparse.Namespace | None, data_dir: str | None = None, strict_bio: bool = False
) -> tuple[datasets.DatasetDict, dict[str, ConversionReport] | None]:
    """The dataset ``name`` stands for (``bioner.corpora.sources``), with the conversion reports when it was
    converted from document files (a folder or Hub dataset repo of them, or the split files given)."""
    options = (
        {}
        if args is None
        else {
            "format": args.from_format,
            "word_style": args.word_style,
            "composite": args.composite,
            "discontinuous": args.discontinuous,
            "entity_types": parse_entity_types(args.entity_types),
        }
    )
    given = (
        {}
        if args is None
        else {
            split: path
            for split, path in (
                ("train", args.train_file),
                ("validation", args.dev_file),
                ("test", args.test_file),
            )
            if path
        }
    )
    return load_dataset_and_reports(name, data_dir, strict_bio=strict_bio, files=given, **options)


def _conversion_section(reports: dict[str, ConversionReport], args: argparse.Namespace | None) -> str:
    how = (
        ""
        if args is None
        else (
            f"Word style `{args.word_style}`, composite mentions as `{args.composite}`, discontinuous"
            f" mentions `{args.discontinuous}`, entity types `{args.entity_types or 'all'}`.\n\n"
        )
    )
    return how + "\n".join(f"### {split}\n\n{report.to_markdown()}" for split, report in reports.items())


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
    args: argparse.Namespace | None = None,
) -> dict[str, dict]:
    """Load (or convert from documents) each dataset, write its card and the combined tables/stats; return
    statistics by name."""
    output_dir = Path(output_dir)
    stats_by_name = {}
    for name in names:
        dsdict, reports = load_corpus(name, args, data_dir, strict_bio)
        conversion = None if reports is None else _conversion_section(reports, args)
        short = short_name(name)
        stats = stats_by_name[short] = dataset_statistics(dsdict)
        card = dataset_card(short, dsdict, stats, conversion)
        (output_dir / short).mkdir(parents=True, exist_ok=True)
        (output_dir / short / "README.md").write_text(card, encoding="utf-8")
        if reports is not None:
            _write_converted(dsdict, reports, output_dir / short)
        if push_to_hub:
            print(f"pushed {push_dataset(dsdict, f'{push_to_hub}/{short}', card, token=None)}")
    tables = f"## Table I: sentences\n\n{format_table1(stats_by_name)}\n\n"
    tables += f"## Table II: test entities by length in tokens\n\n{format_table2(stats_by_name)}\n"
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "tables.md").write_text(tables, encoding="utf-8")
    (output_dir / "stats.json").write_text(json.dumps(stats_by_name, indent=2) + "\n", encoding="utf-8")
    print(tables)
    return stats_by_name


def _write_converted(
    dsdict: datasets.DatasetDict, reports: dict[str, ConversionReport], folder: Path
) -> None:
    """The converted splits as ``{train,dev,test}.tsv`` (usable as ``--dataset``) and the reports as JSON."""
    labels = label_names(dsdict)
    for split in SPLITS:
        rows = dsdict[split]
        write_conll(
            list(zip(rows["tokens"], tag_names(rows["ner_tags"], labels), strict=True)),
            folder / f"{split_stem(split)}.tsv",
        )
    report = {split: r.as_dict() for split, r in reports.items()}
    (folder / "conversion.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    names = args.names
    given = [args.train_file, args.dev_file, args.test_file]
    if any(given) and (not all(given) or len(names) != 1):
        print("error: --train_file, --dev_file and --test_file go together, with one NAME", file=sys.stderr)
        return 2
    if not names:
        names, missing = available_names(args.data_dir)
        for name, why in missing.items():
            print(f"skipping {name}: {why}", file=sys.stderr)
    expected: tuple[type[Exception], ...] = (DataFormatError,)
    if args.push_to_hub:
        expected += (HubPublishError,)
    try:
        prepare(names, args.output_dir, args.data_dir, args.strict_bio, args.push_to_hub, args)
    except (*expected, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {Path(args.output_dir) / 'tables.md'}, stats.json and one README.md per dataset")
    return 0


if __name__ == "__main__":
    sys.exit(main())
