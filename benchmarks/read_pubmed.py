"""Reading speed alone: a PubMed XML file (or JATS files) read as documents, nothing tagged.

    .venv/bin/python -m benchmarks.read_pubmed [FILE ...] [--without_abstract keep|skip] [--json]

Default FILE: ``$BIONER_PUBMED_DIR/pubmed20n0014.xml.gz`` (``../shared/pubmed``: 30,000 citations). Prints
citations per second (wall clock, and per second of this process's CPU time: the machine is shared),
documents read (per kind), skipped by reason, parts left out, DeleteCitation PMIDs,
characters of text and the peak resident memory of the process (the target: at least 5,000 citations/s, with
memory that does not grow with the file). docs/pubmed.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from bioner.corpora import detect_format
from bioner.corpora.jats import iter_jats
from bioner.corpora.pubmed import WITHOUT_ABSTRACT, iter_pubmed
from bioner.corpora.xmlfiles import ReadReport

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = (
    Path(os.environ.get("BIONER_PUBMED_DIR") or ROOT.parent / "shared" / "pubmed") / "pubmed20n0014.xml.gz"
)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def measure(paths: list[Path], without_abstract: str = "keep") -> dict:
    report, characters = ReadReport(), 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for path in paths:
        if detect_format(path) == "jats":
            documents = iter_jats(path, report)
        else:
            documents = iter_pubmed(path, report, without_abstract=without_abstract)
        for document in documents:
            characters += len(document.text)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "files": [str(p) for p in paths],
        "seconds": round(seconds, 2),
        "citations_per_second": round(report.records / seconds) if seconds else None,
        "cpu_seconds": round(cpu_seconds, 2),
        "citations_per_cpu_second": round(report.records / cpu_seconds) if cpu_seconds else None,
        "characters": characters,
        **report.as_dict(),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu": cpu_name(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=[DEFAULT])
    parser.add_argument("--without_abstract", choices=WITHOUT_ABSTRACT, default="keep")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    result = measure(args.files, args.without_abstract)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return result


if __name__ == "__main__":
    main()
