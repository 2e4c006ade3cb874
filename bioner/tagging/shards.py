"""Resumable, data-parallel JSONL output: each process appends its records to its own part file, and the main
process merges the parts into the output in input order once every document is written.

Part files live in ``<output>.parts/`` and hold one record per line with its input position under
``"_index"``. A run that is stopped leaves them behind; the next run reads them, skips the documents already
written (a line cut short by the stop is dropped and counted, and its document is tagged again) and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

INDEX_KEY = "_index"


class OutputMergeError(RuntimeError):
    """The part files do not hold every document exactly once."""


class ShardedOutput:
    def __init__(self, output: str | os.PathLike[str]):
        self.output = Path(output)
        self.parts = self.output.with_name(self.output.name + ".parts")

    def remove(self) -> None:
        """Forget earlier runs: delete the output and any part files."""
        self.output.unlink(missing_ok=True)
        if self.parts.is_dir():
            shutil.rmtree(self.parts)

    def part(self, rank: int) -> Path:
        return self.parts / f"part-{rank:05d}.jsonl"

    def _records(self) -> Iterator[tuple[Path, int, dict | None]]:
        """Every line of every part file as ``(file, line number, record or None when the line is torn)``."""
        for path in sorted(self.parts.glob("part-*.jsonl")) if self.parts.is_dir() else []:
            for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    record = None
                yield path, number, record

    def done(self) -> set[int]:
        """Input positions already written by earlier (stopped) runs."""
        done, torn = set(), 0
        for _, _, record in self._records():
            if record is None:
                torn += 1
            else:
                done.add(record[INDEX_KEY])
        if torn:
            logger.warning(
                "%s: %d line(s) cut short by a stopped run; their documents are tagged again",
                self.parts,
                torn,
            )
        return done

    def open(self, rank: int):
        """This process's part file, for appending; a last line left torn by a stopped run is cut first."""
        self.parts.mkdir(parents=True, exist_ok=True)
        path = self.part(rank)
        if path.exists():
            data = path.read_bytes()
            if data and not data.endswith(b"\n"):
                with path.open("r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)
        return path.open("a", encoding="utf-8")

    @staticmethod
    def write(handle, index: int, record: dict) -> None:
        handle.write(json.dumps({INDEX_KEY: index, **record}, ensure_ascii=False) + "\n")

    def merge(self, total: int) -> int:
        """Write the output (records ordered by input position, ``_index`` removed), then delete the parts.

        Raises ``OutputMergeError`` naming the positions that are missing; a document written twice (possible
        only when a stopped run's line was complete but the process died before reporting) is kept once."""
        by_index: dict[int, dict] = {}
        duplicates = 0
        for path, number, record in self._records():
            if record is None:
                continue
            index = record.pop(INDEX_KEY)
            if not 0 <= index < total:
                raise OutputMergeError(
                    f"{path}:{number}: document position {index} is not among the {total} inputs"
                )
            duplicates += index in by_index
            by_index.setdefault(index, record)
        missing = [i for i in range(total) if i not in by_index]
        if missing:
            shown = ", ".join(map(str, missing[:10]))
            raise OutputMergeError(
                f"{len(missing)} of {total} documents have no output (positions {shown}...)"
            )
        if duplicates:
            logger.warning("%d document(s) were written twice by stopped runs; each is kept once", duplicates)
        partial = self.output.with_name(self.output.name + ".tmp")
        with partial.open("w", encoding="utf-8") as handle:
            for index in range(total):
                handle.write(json.dumps(by_index[index], ensure_ascii=False) + "\n")
        partial.replace(self.output)
        shutil.rmtree(self.parts)
        return total
