"""Property-based fuzzing of the corpus readers over slices of the real releases (issue 17).

Each test takes the first documents of a real file (``BIONER_CORPORA_DIR``, skipped when missing), damages
them the ways users' files are damaged (fields deleted, duplicated or swapped; JSON values of the wrong type;
truncation; LF, CRLF or CR line ends; invalid UTF-8, NUL and BOM bytes; pairs moved into sub-folders; empty
files) and checks that the reader has one of the two allowed outcomes:

* documents holding as many mentions as the damaged input (composite parts included where the format lists
  them), or fewer only with a counted repair that says so (an identical duplicate document kept once);
* the project's format error (``DataFormatError``, whose ``CorpusFormatError`` is one), whose message starts
  with the file (brat: a file of the folder) and, for line-based formats, names the line when one is at
  fault.

Never another exception type. ``FUZZ_EXAMPLES`` (``BIONER_FUZZ_EXAMPLES``) is the number of cases each test
generates per run; the counts actually run are printed at the end of the module (``pytest -s``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bioner.corpora import read_documents, write_documents
from bioner.corpora.bioc import read_bioc_xml
from bioner.corpora.brat import NO_ANN_FILES
from bioner.corpora.problems import Repairs
from bioner.corpora.pubtator import DUPLICATE
from bioner.data.files import DataFormatError
from tests.helpers import CORPORA_DIR

FUZZ_EXAMPLES = int(os.environ.get("BIONER_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
DOCUMENTS = 3  # per slice
CASES: Counter[str] = Counter()

PUBTATOR_FILES = (
    "bc5cdr/CDR_TrainingSet.PubTator.txt",
    "bc5cdr/CDR_DevelopmentSet.PubTator.txt",
    "bc5cdr/CDR_TestSet.PubTator.txt",
    "ncbi_disease/NCBItrainset_corpus.txt",
    "ncbi_disease/NCBItestset_corpus.txt",
    "biored/Train.PubTator",
    "biored/Test.PubTator",
)
BIOC_FILES = ("bc5cdr/CDR_TrainingSet.BioC.xml", "biored/Dev.BioC.XML")
LINE_ENDS = ("\n", "\r\n", "\r")
BYTES = (b"\xff", b"\xc3", b"\x00", b"\xef\xbb\xbf", b"\xe2\x80")
_LINE_END = re.compile(r"\r\n|\r|\n")
_INTEGER = re.compile(r"-?\d+")
_RELATION_TYPE = re.compile(r"[A-Za-z][A-Za-z_-]*")


@pytest.fixture(scope="module", autouse=True)
def _report_cases() -> Iterator[None]:
    yield
    if CASES:
        print(f"\nfuzz cases run (max_examples={FUZZ_EXAMPLES} per test): {dict(sorted(CASES.items()))}")


# ---- slices of the real releases -------------------------------------------------------------------------


def _real(relative: str) -> Path:
    path = CORPORA_DIR / relative
    if not path.is_file():
        pytest.skip(f"{path} not found (BIONER_CORPORA_DIR)")
    return path


@cache
def pubtator_slice(relative: str) -> str:
    """The first documents of a PubTator file, as written (LF line ends)."""
    with _real(relative).open(encoding="utf-8", newline="") as handle:
        head = handle.read(200_000)
    blocks = [b for b in head.split("\n\n") if b.strip()][:DOCUMENTS]
    return "\n\n".join(blocks) + "\n\n"


@cache
def bioc_xml_slice(relative: str) -> bytes:
    """The first documents of a BioC XML file, closed into a collection."""
    with _real(relative).open("rb") as handle:
        head = handle.read(400_000)
    end = 0
    for _ in range(DOCUMENTS):
        end = head.index(b"</document>", end) + len(b"</document>")
    return head[:end] + b"\n</collection>\n"


def pubtator_documents(relative: str) -> list:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "slice.PubTator"
        path.write_text(pubtator_slice(relative), encoding="utf-8")
        return read_documents(path, "pubtator")


@cache
def bioc_json_tree(relative: str) -> str:
    """The BioC XML slice written as BioC JSON by the project's writer."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "slice.xml"
        source.write_bytes(bioc_xml_slice(relative))
        target = Path(folder) / "slice.json"
        write_documents(read_bioc_xml(source), target, "bioc_json")
        return target.read_text(encoding="utf-8")


# ---- damage ----------------------------------------------------------------------------------------------


@st.composite
def line_damage(draw: st.DrawFn, text: str) -> bytes:
    """``text`` with lines deleted, duplicated or swapped, one line's tab-separated fields deleted, duplicated
    or swapped, its line ends switched, bytes injected, or truncated (one to three of these)."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(("fields", "fields", "line", "truncate", "bytes", "ends", "empty")))
        if kind == "fields":
            index = draw(st.integers(0, len(lines) - 1))
            lines[index] = "\t".join(_damage_list(draw, lines[index].split("\t")))
        elif kind == "line" and lines:
            lines = _damage_list(draw, lines)
        elif kind == "empty":
            return b""
        else:
            data = "\n".join(lines).encode("utf-8")
            data = _damage_bytes(draw, data, kind)
            return data
    return "\n".join(lines).encode("utf-8")


def _damage_list(draw: st.DrawFn, items: list[str]) -> list[str]:
    items = list(items)
    if not items:
        return items
    i = draw(st.integers(0, len(items) - 1))
    action = draw(st.sampled_from(("delete", "duplicate", "swap", "swap_any")))
    if action == "delete":
        del items[i]
    elif action == "duplicate":
        items.insert(i, items[i])
    elif len(items) > 1:
        j = i + 1 if action == "swap" and i + 1 < len(items) else draw(st.integers(0, len(items) - 1))
        j = min(j, len(items) - 1)
        items[i], items[j] = items[j], items[i]
    return items


def _damage_bytes(draw: st.DrawFn, data: bytes, kind: str) -> bytes:
    if kind == "truncate":
        return data[: draw(st.integers(0, len(data)))]
    if kind == "ends":
        end = draw(st.sampled_from(LINE_ENDS)).encode()
        return data.replace(b"\r\n", b"\n").replace(b"\n", end)
    position = draw(st.integers(0, len(data)))
    return data[:position] + draw(st.sampled_from(BYTES)) + data[position:]


def any_damage(draw: st.DrawFn, data: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(("truncate", "bytes", "ends", "empty")))
        data = b"" if kind == "empty" else _damage_bytes(draw, data, kind)
    return data


# ---- the two allowed outcomes ----------------------------------------------------------------------------


def outcome(
    read: Callable[[Repairs], list],
    named: Path,
    expected: int | None,
    *,
    count: Callable[[list], int],
    lines: bool = False,
    allowed_repairs: tuple[str, ...] = (),
) -> str:
    """Read; check documents with ``expected`` mentions (``None``: the input cannot hold any, so only an error
    will do) or a format error naming ``named``. Returns which."""
    repairs = Repairs()
    try:
        documents = read(repairs)
    except DataFormatError as error:
        message = str(error)
        if os.environ.get("FUZZ_DEBUG"):
            print("ERROR:", message)
        assert message.startswith(str(named)), message
        if lines:  # a line-based format names the line, unless the fault is the whole file
            assert re.match(rf"{re.escape(str(named))}(:\d+: |: no documents)", message), message
        return "error"
    except Exception as error:  # noqa: BLE001 - the point of the test
        pytest.fail(f"{type(error).__name__} instead of a format error: {error}")
    assert expected is not None, f"read {len(documents)} document(s) from an input that is not well-formed"
    found = count(documents)
    if found != expected:
        assert found < expected and any(repairs.counts[kind] for kind in allowed_repairs), (
            f"{found} mentions read, the input holds {expected}; repairs: {dict(repairs.counts)}"
        )
    return "documents"


def pubtator_mentions(data: bytes) -> int | None:
    """Mention lines in damaged PubTator: a line of three or more tab-separated fields that is no relation
    line (``id<TAB>Type<TAB>arg<TAB>arg[<TAB>arg]``)."""
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError:
        return None
    total = 0
    for line in _LINE_END.split(text):
        fields = line.split("\t")
        if len(fields) >= 3 and not (_RELATION_TYPE.fullmatch(fields[1]) and len(fields) in (4, 5)):
            total += 1
    return total


def top_level(documents: list) -> int:
    return sum(len(d.mentions) for d in documents)


def with_parts(documents: list) -> int:
    return sum(len(m.parts) + 1 for d in documents for m in d.mentions)


# ---- PubTator --------------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data(), relative=st.sampled_from(PUBTATOR_FILES))
def test_pubtator_damaged(data: st.DataObject, relative: str) -> None:
    damaged = data.draw(line_damage(pubtator_slice(relative)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.PubTator"
        path.write_bytes(damaged)
        kind = outcome(
            lambda repairs: read_documents(path, None, repairs),
            path,
            pubtator_mentions(damaged),
            count=top_level,
            lines=True,
            allowed_repairs=(DUPLICATE,),
        )
    CASES[f"pubtator {kind}"] += 1


@pytest.mark.parametrize("end", LINE_ENDS, ids=("LF", "CRLF", "CR"))
@pytest.mark.parametrize("relative", PUBTATOR_FILES)
def test_pubtator_line_ends_read_the_same(tmp_path: Path, relative: str, end: str) -> None:
    text = pubtator_slice(relative)
    path = tmp_path / "slice.txt"
    path.write_bytes(text.replace("\n", end).encode())
    documents = read_documents(path)
    assert [d.id for d in documents] == [d.id for d in pubtator_documents(relative)]
    assert top_level(documents) == pubtator_mentions(text.encode())


# ---- BioC XML --------------------------------------------------------------------------------------------


def xml_annotations(data: bytes) -> int | None:
    """Annotations of well-formed damaged BioC XML (``None`` when it is not well-formed)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if root.tag != "collection":
        return None
    return sum(1 for document in root.iter("document") for _ in document.iter("annotation"))


@st.composite
def xml_damage(draw: st.DrawFn, data: bytes) -> bytes:
    """Elements deleted, duplicated or swapped with a sibling; leaf texts indented (pretty-printed); or the
    bytes damaged."""
    kind = draw(st.sampled_from(("element", "element", "pretty", "bytes")))
    if kind == "bytes":
        return any_damage(draw, data)
    root = ET.fromstring(data)
    if kind == "pretty":
        ET.indent(root, space="  ")
        for element in root.iter():
            if len(element) == 0 and element.text and draw(st.booleans()):
                element.text = f"\n      {element.text}\n    "
        return ET.tostring(root, encoding="utf-8")
    for _ in range(draw(st.integers(1, 2))):
        parents = [e for e in root.iter() if len(e)]
        parent = draw(st.sampled_from(parents))
        children = list(parent)
        index = draw(st.integers(0, len(children) - 1))
        action = draw(st.sampled_from(("delete", "duplicate", "swap")))
        if action == "delete":
            parent.remove(children[index])
        elif action == "duplicate":
            parent.insert(index, children[index])
        elif len(children) > 1:
            other = draw(st.integers(0, len(children) - 1))
            parent[index], parent[other] = children[other], children[index]
    return ET.tostring(root, encoding="utf-8")


@FUZZ
@given(data=st.data(), relative=st.sampled_from(BIOC_FILES))
def test_bioc_xml_damaged(data: st.DataObject, relative: str) -> None:
    damaged = data.draw(xml_damage(bioc_xml_slice(relative)))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.xml"
        path.write_bytes(damaged)
        kind = outcome(
            lambda repairs: read_documents(path, None, repairs),
            path,
            xml_annotations(damaged),
            count=with_parts,
        )
    CASES[f"bioc_xml {kind}"] += 1


# ---- BioC JSON -------------------------------------------------------------------------------------------

WRONG_VALUES = ({}, [], 7, 2.5, "x", None, True, [{}], {"a": 1})


def json_annotations(tree: Any) -> int | None:
    """Annotations of a BioC JSON tree, or ``None`` when a value on the way is of the wrong type (then only an
    error will do); ``null`` reads as empty."""

    def items(value: Any) -> list:
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise TypeError
        return value

    try:
        documents = items(tree.get("documents") if isinstance(tree, dict) else tree)
        total = 0
        for document in documents:
            total += len(items(document.get("annotations")))
            for passage in items(document.get("passages")):
                total += len(items(passage.get("annotations")))
                total += sum(len(items(s.get("annotations"))) for s in items(passage.get("sentences")))
        return total
    except TypeError:
        return None


def _nodes(tree: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _nodes(value, (*path, index))


@st.composite
def json_damage(draw: st.DrawFn, text: str) -> bytes:
    """A value replaced by one of another type, a key deleted, a list item duplicated; or bytes damaged."""
    if draw(st.integers(0, 4)) == 0:
        return any_damage(draw, text.encode())
    tree = json.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _nodes(tree) if p]
        path = draw(st.sampled_from(paths))
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(("replace", "replace", "delete", "duplicate")))
        if action == "replace":
            parent[path[-1]] = draw(st.sampled_from(WRONG_VALUES))
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.insert(path[-1], parent[path[-1]])
    return json.dumps(tree, indent=draw(st.sampled_from((None, 1)))).encode()


@FUZZ
@given(data=st.data(), relative=st.sampled_from(BIOC_FILES))
def test_bioc_json_damaged(data: st.DataObject, relative: str) -> None:
    damaged = data.draw(json_damage(bioc_json_tree(relative)))
    try:
        expected = json_annotations(json.loads(damaged.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError):
        expected = None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "damaged.json"
        path.write_bytes(damaged)
        kind = outcome(
            lambda repairs: read_documents(path, "bioc_json", repairs), path, expected, count=with_parts
        )
    CASES[f"bioc_json {kind}"] += 1


# ---- brat ------------------------------------------------------------------------------------------------


def brat_mentions(folder: Path) -> int | None:
    total = 0
    for ann in folder.rglob("*.ann"):
        try:
            text = ann.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            return None
        total += sum(1 for line in _LINE_END.split(text) if line.startswith("T"))
    return total


@FUZZ
@given(data=st.data(), relative=st.sampled_from(PUBTATOR_FILES))
def test_brat_damaged(data: st.DataObject, relative: str) -> None:
    documents = pubtator_documents(relative)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "brat"
        write_documents(documents, folder, "brat")
        anns = sorted(folder.glob("*.ann"))
        for ann in anns:  # nest: some pairs one or two folders down
            depth = data.draw(st.integers(0, 2), label=f"depth of {ann.stem}")
            if depth:
                target = folder.joinpath(*[f"batch{depth}"] * depth)
                target.mkdir(parents=True, exist_ok=True)
                for member in (ann, ann.with_suffix(".txt")):
                    shutil.move(member, target / member.name)
        anns = sorted(folder.rglob("*.ann"))
        victim = data.draw(st.sampled_from(anns))
        action = data.draw(st.sampled_from(("ann", "ann", "txt_missing", "txt_bytes", "none")))
        if action == "ann":
            victim.write_bytes(data.draw(line_damage(victim.read_text(encoding="utf-8"))))
        elif action == "txt_missing":
            victim.with_suffix(".txt").unlink()
        elif action == "txt_bytes":
            txt = victim.with_suffix(".txt")
            txt.write_bytes(data.draw(st.sampled_from(BYTES)) + txt.read_bytes())
        expected = brat_mentions(folder)
        if action == "none":
            assert expected == top_level(documents)

        def read(repairs: Repairs) -> list:
            read_back = read_documents(folder, None, repairs)
            assert len(read_back) == len(documents)
            return read_back

        kind = outcome(read, folder, expected, count=top_level)
    CASES[f"brat {kind}"] += 1


# ---- empty and odd inputs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["empty.PubTator", "empty.xml", "empty.json", "empty.BioC.XML", "x.PubTator.txt"]
)
def test_empty_file_is_an_error_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"" if "x." not in name else b"\n\n")
    with pytest.raises(DataFormatError, match=re.escape(str(path))):
        read_documents(path)


def test_folder_without_ann_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    with pytest.raises(DataFormatError, match=re.escape(NO_ANN_FILES)):
        read_documents(tmp_path, "brat")


# ---- the reported instances, one per fault class ---------------------------------------------------------

TITLE = "1|t|Aspirin and asthma.\n"
MENTION = "1\t0\t7\tAspirin\tChemical\tD001241\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (TITLE + "1\t0a\t7\tAspirin\tChemical\tD001241\n", r":2: not a mention line \(offsets '0a' and '7'"),
        (TITLE + "1\t 0\t7\tAspirin\tChemical\tD001241\n", r":2: not a mention line"),
        (TITLE + "1\t0\t7\tAspirin\t\tD001241\n", r":2: mention 'Aspirin' has an empty type field"),
        (MENTION + TITLE, r":1: mention or relation line of 1 before its title line \(line 2\)"),
    ],
)
def test_pubtator_faults_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "c.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + message):
        read_documents(path)


def test_pubtator_cr_only_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    text = TITLE + MENTION + "\n" + TITLE.replace("1", "2") + MENTION.replace("1", "2", 1)
    path.write_bytes(text.replace("\n", "\r").encode())
    documents = read_documents(path)
    assert [(d.id, len(d.mentions)) for d in documents] == [("1", 1), ("2", 1)]


def test_xml_that_is_not_bioc_names_its_root(tmp_path: Path) -> None:
    path = tmp_path / "x.xml"
    path.write_text("<?xml version='1.0'?>\n<Something><a/></Something>\n")
    with pytest.raises(DataFormatError, match=r"<Something>"):
        read_documents(path)
    with pytest.raises(DataFormatError, match=r"<Something>"):
        read_documents(path, "bioc_xml")


def test_bioc_document_without_id_names_it_and_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_text(
        "<collection>\n<document><id>1</id></document>\n<document>\n<passage><offset>0</offset><text>A</text>"
        "</passage></document></collection>"
    )
    with pytest.raises(DataFormatError, match=re.escape(f"{path}:3: document #2 has no <id>")):
        read_documents(path)


@pytest.mark.parametrize("relative", BIOC_FILES)
def test_pretty_printed_bioc_xml_reads_as_the_original(tmp_path: Path, relative: str) -> None:
    source = tmp_path / "slice.xml"
    source.write_bytes(bioc_xml_slice(relative))
    root = ET.fromstring(bioc_xml_slice(relative))
    ET.indent(root, space="  ")
    for element in root.iter():
        if len(element) == 0 and element.text:
            element.text = f"\n      {element.text}\n    "
    pretty = tmp_path / "pretty.xml"
    pretty.write_bytes(ET.tostring(root, encoding="utf-8"))
    repairs = Repairs()
    original, formatted = read_documents(source), read_documents(pretty, None, repairs)
    assert [(d.id, d.text, [(m.spans, m.type, m.ids) for m in d.mentions]) for d in formatted] == [
        (d.id, d.text, [(m.spans, m.type, m.ids) for m in d.mentions]) for d in original
    ]
    assert repairs.counts  # the stripped indentation is counted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t["documents"][0].update(passages={"a": 1}), r"passages must be a list, found an object"),
        (lambda t: t["documents"][0]["passages"][0].update(text=12), r"passages\[0\] text must be text"),
        (lambda t: t["documents"][0].update(id=None), r"documents\[0\] has no <id>"),
        (
            lambda t: t["documents"][0]["passages"][0]["annotations"][0].update(locations=[None]),
            r"must be an obj",
        ),
    ],
)
def test_bioc_json_wrong_types_are_format_errors(tmp_path: Path, change: Callable, message: str) -> None:
    tree = json.loads(bioc_json_tree(BIOC_FILES[0]))
    change(tree)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(tree))
    with pytest.raises(DataFormatError, match=re.escape(str(path)) + ".*" + message):
        read_documents(path)


@pytest.mark.parametrize("line", ["N1\tReference T1", "N1", "N1\tReference T1\tx", "T2\t 0 7\tAspirin"])
def test_brat_short_lines_name_the_line(tmp_path: Path, line: str) -> None:
    (tmp_path / "d.txt").write_text("Aspirin and asthma.")
    (tmp_path / "d.ann").write_text(f"T1\tChemical 0 7\tAspirin\n{line}\n")
    with pytest.raises(DataFormatError, match=re.escape(str(tmp_path / "d.ann")) + ":2: "):
        read_documents(tmp_path)


def test_brat_pairs_in_sub_folders_are_read(tmp_path: Path) -> None:
    for folder, name in (("", "a"), ("x", "b"), ("x/y", "c")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / f"{name}.txt").write_text("Aspirin")
        (tmp_path / folder / f"{name}.ann").write_text("T1\tChemical 0 7\tAspirin\n")
    assert [(d.id, len(d.mentions)) for d in read_documents(tmp_path)] == [("a", 1), ("b", 1), ("c", 1)]
    (tmp_path / "x" / "a.txt").write_text("Aspirin")
    (tmp_path / "x" / "a.ann").write_text("")
    with pytest.raises(DataFormatError, match="a second document named 'a'"):
        read_documents(tmp_path)


def test_empty_pubtator_given_to_tag_is_no_raw_text(tmp_path: Path) -> None:
    from bioner.tagging.inputs import InputFormatError, read_inputs

    path = tmp_path / "empty.PubTator"
    path.write_text("")
    with pytest.raises(InputFormatError, match=re.escape(str(path)) + ": no documents"):
        read_inputs([path])


def test_split_names_match_whole_words(tmp_path: Path) -> None:
    from bioner.corpora.dataset import find_split_files

    text = pubtator_slice(PUBTATOR_FILES[0])
    for name in ("devices_train.txt", "devices_dev.txt", "devices_test.txt"):
        (tmp_path / name).write_text(text)
    assert {split: path.name for split, path in find_split_files(tmp_path).items()} == {
        "train": "devices_train.txt",
        "validation": "devices_dev.txt",
        "test": "devices_test.txt",
    }


@FUZZ
@given(relative=st.sampled_from(PUBTATOR_FILES), shift=st.integers(-3, 3), index=st.integers(0, 10**6))
def test_scoring_refuses_predictions_whose_text_is_not_the_gold_text(
    relative: str, shift: int, index: int
) -> None:
    """A predicted mention moved off its gold offsets, with its text kept, is never scored as a match: the
    scorer refuses it (naming the document) unless the gold text at the new offsets is that text."""
    from bioner.corpora import Document, Mention
    from bioner.corpora.scoring import DocumentScoringError, score_documents

    gold = pubtator_documents(relative)
    document = gold[index % len(gold)]
    mention = document.mentions[index % len(document.mentions)]
    start, end = mention.start + shift, mention.end + shift
    if start < 0 or end > len(document.text):
        return
    moved = Mention([(start, end)], mention.type, mention.text)
    predicted = [Document(d.id, d.text, mentions=[moved] if d is document else []) for d in gold]
    if document.text[start:end].split() == mention.text.split():
        assert score_documents(gold, predicted)["num_predicted_mentions"] == 1
    else:
        with pytest.raises(DocumentScoringError, match=f"document {document.id!r}: predicted mention"):
            score_documents(gold, predicted)
    CASES["scoring"] += 1


def test_write_errors_name_the_output_not_a_scratch_folder(tmp_path: Path) -> None:
    import tag
    from bioner.corpora import Document
    from bioner.tagging import corpus_run

    documents = [Document("a", "two\nlines", source=f"{tmp_path / 'in.txt'}:1")]
    out = tmp_path / "out.PubTator"
    with pytest.raises(ValueError, match=f"^{re.escape(str(out))}: document a: PubTator cannot hold"):
        tag.check_writable(documents, "pubtator", str(out))
    with pytest.raises(ValueError, match=f"^the pubtator output of {re.escape(str(tmp_path))}.*in.txt: doc"):
        corpus_run.check_writable(documents, "pubtator")
