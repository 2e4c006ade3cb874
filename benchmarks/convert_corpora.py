"""Convert the original releases (PubTator) to BIO and print the figures of docs/corpora.md.

    .venv/bin/python -m benchmarks.convert_corpora [--corpora_dir ../shared/corpora] [--data_dir
    ../shared/data]

For BC5CDR, NCBI-disease and BioRED: per split, documents, sentences (against shared/data), mentions kept
exactly / adjusted / left out, words split, and the seconds taken to read and convert; then the per-type
reports, and the total time for the three BC5CDR files (the target is under 10 s on the 2-core CPU).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

from bioner.corpora import read_documents
from bioner.corpora.convert import ConversionReport, documents_to_sentences
from bioner.corpora.problems import Repairs
from bioner.data.conll import read_conll

ROOT = Path(__file__).resolve().parents[2]
RELEASES = {
    "bc5cdr": ("CDR_TrainingSet.PubTator.txt", "CDR_DevelopmentSet.PubTator.txt", "CDR_TestSet.PubTator.txt"),
    "ncbi_disease": ("NCBItrainset_corpus.txt", "NCBIdevelopset_corpus.txt", "NCBItestset_corpus.txt"),
    "biored": ("Train.PubTator", "Dev.PubTator", "Test.PubTator"),
}
# BioRED in shared/data packs sentences into instances; its one-sentence-per-instance counts are in
# shared/data/README.md ("--biored-max-tokens 0").
BIORED_SENTENCES = {"train": 4312, "dev": 1118, "test": 1089}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpora_dir", default=os.environ.get("BIONER_CORPORA_DIR") or ROOT / "shared" / "corpora"
    )
    parser.add_argument("--data_dir", default=os.environ.get("BIONER_DATA_DIR") or ROOT / "shared" / "data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    corpora, data = Path(args.corpora_dir), Path(args.data_dir)
    print(
        "| corpus | split | documents | sentences (shared/data) | diff | mentions | kept exactly | adjusted "
        "| left out | words split | sentences merged | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    reports: dict[str, ConversionReport] = {}
    bc5cdr_seconds = 0.0
    for corpus, files in RELEASES.items():
        for split, name in zip(("train", "dev", "test"), files, strict=True):
            start = time.perf_counter()
            repairs = Repairs()
            report = ConversionReport(repairs=repairs)
            rows = documents_to_sentences(
                read_documents(corpora / corpus / name, repairs=repairs), report=report
            )
            seconds = time.perf_counter() - start
            if corpus == "bc5cdr":
                bc5cdr_seconds += seconds
            reports[f"{corpus} {split}"] = report
            if corpus == "biored":
                reference = BIORED_SENTENCES[split]
            else:
                reference = len(read_conll(data / corpus / f"{split}.tsv").sentences)
            print(
                f"| {corpus} | {split} | {report.documents:,} | {len(rows):,} ({reference:,}) | "
                f"{100 * (len(rows) - reference) / reference:+.2f}% | {report.total():,} | "
                f"{report.total('kept'):,} | {report.total('adjusted'):,} | {report.total('left out'):,} | "
                f"{report.words_split:,} | {report.sentences_merged:,} | {seconds:.2f} |"
            )
    print(f"\nBC5CDR, all three PubTator files read and converted: {bc5cdr_seconds:.2f} s\n")
    for name, report in reports.items():
        print(f"### {name}\n\n{report.to_markdown()}")


if __name__ == "__main__":
    main()
