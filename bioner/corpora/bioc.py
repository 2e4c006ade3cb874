"""BioC, as XML (``<collection><document><passage>...``) or as JSON (the same tree, as the ``bioc`` package
and PubTator Central write it), read with the standard library (``xml.etree`` iterparse, ``json``).

Offsets are document-level. A document's text is its passages' texts placed at their offsets, gaps filled
with spaces (PubTator puts one space between title and abstract). An annotation's type is its ``type`` infon;
its ids come from the first of the ``identifier``/``Identifier``/``MESH``/... infons; its other infons are
kept. Several ``<location>``s make a discontinuous mention. Composite mentions (BC5CDR) come as one
annotation with ``CompositeRole=CompositeMention`` followed by one ``IndividualMention`` per part; each part
is attached to the nearest composite before it that it overlaps (one without is kept as a mention and
counted). Relations are kept as ``[type, other infon values...]``, the PubTator relation layout, so
``CID chemical disease`` survives PubTator -> BioC -> PubTator.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from bioner.corpora.checks import check_mention
from bioner.corpora.model import Document, Mention, Passage
from bioner.corpora.problems import CorpusFormatError, Repairs
from bioner.corpora.xmlfiles import expect_root

ID_KEYS = ("identifier", "Identifier", "MESH", "mesh", "ID", "id", "NCBI Gene", "Identifiers")
ROLE = "CompositeRole"
LONE_PART = "IndividualMention without a composite mention before it (kept as a mention)"
PRETTY_PRINTED = "passage text with line-break indentation around it (pretty-printed XML; stripped)"
_JSON_KINDS = {list: "a list", dict: "an object", str: "text"}
_XML_HEADER = "<?xml version='1.0' encoding='UTF-8'?><!DOCTYPE collection SYSTEM 'BioC.dtd'>\n"


# ---- reading -------------------------------------------------------------------------------------------


def read_bioc_xml(path: str | os.PathLike[str], repairs: Repairs | None = None) -> list[Document]:
    """Documents of a BioC XML file; malformed XML is an error with its line and column, and so is another
    root element than ``<collection>`` (e.g. PubMed's ``<PubmedArticleSet>``: never zero documents)."""
    path = Path(path)
    expect_root(path, ("collection",), "BioC XML")
    found = Repairs()
    documents = [
        _document(tree, path, found, f"document #{index + 1}", lambda n=index: _document_line(path, n))
        for index, tree in enumerate(_xml_documents(path))
    ]
    return _finish(documents, path, found, repairs)


def read_bioc_json(path: str | os.PathLike[str], repairs: Repairs | None = None) -> list[Document]:
    """Documents of a BioC JSON file (a collection object, or a list of documents)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(raw.decode("utf-8-sig"))
    except FileNotFoundError:
        raise CorpusFormatError(path, "file not found") from None
    except UnicodeDecodeError as err:
        start = err.start + (3 if raw.startswith(b"\xef\xbb\xbf") else 0)
        line = len(re.findall(rb"\r\n|\r|\n", raw[:start])) + 1
        raise CorpusFormatError(path, f"not valid UTF-8: byte 0x{raw[start]:02x}", line) from None
    except json.JSONDecodeError as err:
        raise CorpusFormatError(path, f"malformed JSON: {err.msg} (column {err.colno})", err.lineno) from None
    except RecursionError:
        raise CorpusFormatError(path, "JSON nested too deeply to be a BioC collection") from None
    items = data.get("documents") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CorpusFormatError(path, "expected a BioC collection with a 'documents' list")
    found = Repairs()
    documents = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CorpusFormatError(path, f"documents[{index}] is not an object")
        documents.append(_document(item, path, found, f"documents[{index}]"))
    return _finish(documents, path, found, repairs)


def _finish(documents: list[Document], path: Path, found: Repairs, repairs: Repairs | None) -> list[Document]:
    seen: dict[str, str] = {}
    for document in documents:
        if document.id in seen:
            raise CorpusFormatError(path, f"document id {document.id} appears twice")
        seen[document.id] = document.source
    found.log(path)
    if repairs is not None:
        repairs.merge(found)
    return documents


def _xml_documents(path: Path) -> Iterator[dict[str, Any]]:
    """Each ``<document>`` as the BioC JSON tree, read incrementally."""
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "document":
                yield _xml_tree(element)
                element.clear()
    except FileNotFoundError:
        raise CorpusFormatError(path, "file not found") from None
    except ET.ParseError as err:
        line, column = err.position
        raise CorpusFormatError(
            path, f"malformed XML: {err.msg.split(':')[0]} (column {column + 1})", line
        ) from None


def _document_line(path: Path, index: int) -> int | None:
    """The line of the ``index``-th ``<document>`` start tag (from 0), for messages; ``None`` if not found."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    for number, match in enumerate(re.finditer(rb"<document[\s>/]", data)):
        if number == index:
            return len(re.findall(rb"\r\n|\r|\n", data[: match.start()])) + 1
    return None


def _xml_infons(element: ET.Element) -> dict[str, str]:
    """Infons; a value padded with a line break and indentation (pretty-printed XML) is stripped."""
    infons = {}
    for infon in element.findall("infon"):
        value = infon.text or ""
        infons[infon.get("key", "")] = value.strip() if _padded(value) else value
    return infons


def _xml_tree(element: ET.Element) -> dict[str, Any]:
    def annotations(node: ET.Element) -> list[dict[str, Any]]:
        return [
            {
                "id": a.get("id", ""),
                "infons": _xml_infons(a),
                "text": a.findtext("text") or "",
                "locations": [
                    {"offset": x.get("offset"), "length": x.get("length")} for x in a.findall("location")
                ],
            }
            for a in node.findall("annotation")
        ]

    def relations(node: ET.Element) -> list[dict[str, Any]]:
        return [
            {
                "id": r.get("id", ""),
                "infons": _xml_infons(r),
                "nodes": [
                    {"refid": n.get("refid", ""), "role": n.get("role", "")} for n in r.findall("node")
                ],
            }
            for r in node.findall("relation")
        ]

    passages = []
    for p in element.findall("passage"):
        sentences = [
            {"offset": s.findtext("offset"), "text": s.findtext("text") or "", "annotations": annotations(s)}
            for s in p.findall("sentence")
        ]
        passages.append(
            {
                "offset": p.findtext("offset"),
                "infons": _xml_infons(p),
                "text": p.findtext("text"),
                "sentences": sentences,
                "annotations": annotations(p),
                "relations": relations(p),
            }
        )
    return {
        "id": (element.findtext("id") or "").strip(),
        "infons": _xml_infons(element),
        "passages": passages,
        "annotations": annotations(element),
        "relations": relations(element),
    }


def _integer(value: Any, what: str, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        if not isinstance(value, str):
            raise TypeError
        return int(value)
    except (TypeError, ValueError):
        raise CorpusFormatError(where, f"{what} must be an integer, found {_shown(value)}") from None


def _shown(value: Any) -> str:
    kind = {dict: "an object", list: "a list", str: "text", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )
    return f"{kind} {json.dumps(value, default=str)[:40]}"


def _typed(value: Any, kind: type, what: str, where: str) -> Any:
    """``value`` when it is of the JSON ``kind`` (``None``: that kind's empty value), else an error saying
    what was found (BioC JSON with an object where a list belongs, a number where text belongs)."""
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise CorpusFormatError(where, f"{what} must be {_JSON_KINDS[kind]}, found {_shown(value)}")
    return value


def _objects(value: Any, what: str, where: str) -> list[dict[str, Any]]:
    items = _typed(value, list, what, where)
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CorpusFormatError(where, f"{what}[{index}] must be an object, found {_shown(item)}")
    return items


def _infons(value: Any, what: str, where: str) -> dict[str, str]:
    """Infons as text: numbers are written as text, null as empty; lists or objects are an error."""
    infons = {}
    for key, item in _typed(value, dict, f"{what} infons", where).items():
        if isinstance(item, dict | list):
            raise CorpusFormatError(where, f"{what} infon {key!r} must be text, found {_shown(item)}")
        infons[str(key)] = "" if item is None else str(item)
    return infons


def _padded(text: str) -> bool:
    """Whitespace holding a line break at either end (pretty-printed XML)."""
    return any(
        "\n" in piece for piece in (text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :])
    )


def _document(
    tree: dict[str, Any],
    path: Path,
    repairs: Repairs,
    position: str,
    line: Callable[[], int | None] = lambda: None,
) -> Document:
    """One document of the BioC tree; ``position`` (``document #3``, ``documents[2]``) and ``line`` (of its
    start tag, computed only for a message) name a document whose id is missing or of the wrong type."""
    raw = tree.get("id")
    if isinstance(raw, bool) or not isinstance(raw, str | int | type(None)):
        raise CorpusFormatError(path, f"{position}: its id must be text, found {_shown(raw)}", line())
    identifier = str(raw if raw is not None else "").strip()
    if not identifier:
        raise CorpusFormatError(path, f"{position} has no <id> (or an empty one)", line())
    where = f"{path} document {identifier!r}"
    passages = []
    annotations = list(_objects(tree.get("annotations"), "the document's annotations", where))
    relations = list(_objects(tree.get("relations"), "the document's relations", where))
    for index, p in enumerate(_objects(tree.get("passages"), "passages", where)):
        what = f"passages[{index}]"
        offset = _integer(p.get("offset"), "a passage <offset>", where)
        text = _typed(p.get("text"), str, f"{what} text", where) if p.get("text") is not None else None
        sentences = _objects(p.get("sentences"), f"{what} sentences", where)
        if text is None:  # text given sentence by sentence
            text = ""
            for s in sentences:
                start = _integer(s.get("offset"), "a sentence <offset>", where) - offset
                text = text.ljust(start) + _typed(s.get("text"), str, f"{what} sentence text", where)
        infons = _infons(p.get("infons"), what, where)
        passages.append(Passage(offset, text, infons.pop("type", ""), infons))
        annotations += _objects(p.get("annotations"), f"{what} annotations", where)
        for s in sentences:
            annotations += _objects(s.get("annotations"), f"{what} sentence annotations", where)
        relations += _objects(p.get("relations"), f"{what} relations", where)
    found = Repairs()
    try:
        text, mentions = _assemble(passages, annotations, where, found)
    except CorpusFormatError as error:  # pretty-printed XML: indentation around the passage texts?
        if not any(_padded(p.text) for p in passages):
            raise
        stripped = [Passage(p.offset, p.text.strip(), p.type, p.infons) for p in passages]
        found = Repairs()
        try:
            text, mentions = _assemble(stripped, annotations, where, found)
        except CorpusFormatError:
            raise error from None
        passages = stripped
        found.add(PRETTY_PRINTED, where)
    repairs.merge(found)
    return Document(identifier, text, passages, mentions, [_relation(r, where) for r in relations], where)


def _assemble(
    passages: list[Passage], annotations: list[dict[str, Any]], where: str, repairs: Repairs
) -> tuple[str, list[Mention]]:
    text = ""
    for passage in passages:
        if passage.offset < len(text):
            raise CorpusFormatError(
                where, f"passage at offset {passage.offset} overlaps the one before it (ends at {len(text)})"
            )
        text = text.ljust(passage.offset) + passage.text
    return text, _mentions(annotations, text, where, repairs)


def _mentions(annotations: list[dict[str, Any]], text: str, where: str, repairs: Repairs) -> list[Mention]:
    mentions: list[Mention] = []
    composites: list[Mention] = []
    for annotation in annotations:
        name = f"annotation {annotation.get('id', '')!r}"
        infons = _infons(annotation.get("infons"), name, where)
        kind = infons.pop("type", None) or infons.pop("Type", None)
        if not kind or not kind.strip():
            raise CorpusFormatError(where, f"{name} has no 'type' infon (or an empty one)")
        spans = []
        for location in _objects(annotation.get("locations"), f"{name} locations", where):
            start = _integer(location.get("offset"), f"{name}: a location offset", where)
            spans.append(
                (start, start + _integer(location.get("length"), f"{name}: a location length", where))
            )
        key = next((k for k in ID_KEYS if k in infons), None)
        mention = Mention(
            spans=sorted(spans),
            type=kind,
            text=_typed(annotation.get("text"), str, f"{name} text", where),
            ids=[infons[key]] if key and infons[key] else [],
            id=str(annotation.get("id", "")),
            infons=infons,
        )
        role = infons.get(ROLE)
        parent = _parent(composites, mention) if role == "IndividualMention" and spans else None
        if role == "IndividualMention" and parent is None:
            repairs.add(LONE_PART, f"{where} {name} {mention.text!r}")
        check_mention(text, mention, f"{where} {name}", None, repairs, part=parent is not None)
        if parent is not None:
            parent.parts.append(mention)
            continue
        if role == "CompositeMention":
            composites.append(mention)
        mentions.append(mention)
    mentions.sort(key=lambda m: (m.start, m.end))
    return mentions


def _parent(composites: list[Mention], part: Mention) -> Mention | None:
    for composite in reversed(composites):
        if composite.start < part.end and part.start < composite.end:
            return composite
    return None


def _relation(relation: dict[str, Any], where: str) -> list[str]:
    infons = _infons(relation.get("infons"), "a relation", where)
    kind = infons.pop("type", None) or infons.pop("relation", None) or ""
    nodes = [
        f"{n.get('role', '')}:{n.get('refid', '')}"
        for n in _objects(relation.get("nodes"), "relation nodes", where)
    ]
    return [kind, *infons.values(), *nodes]


# ---- writing -------------------------------------------------------------------------------------------


def to_bioc(documents: Sequence[Document]) -> dict[str, Any]:
    """The BioC JSON tree of a collection holding ``documents``."""
    return {
        "source": "bioner",
        "date": "",
        "key": "",
        "infons": {},
        "documents": [_tree(d) for d in documents],
    }


def _layout(document: Document) -> list[Passage]:
    """The document's passages when they rebuild its text exactly, else one passage holding all of it."""
    text = ""
    for passage in document.passages:
        if passage.offset < len(text) or document.text[len(text) : passage.offset].strip(" "):
            break
        text = text.ljust(passage.offset) + passage.text
    else:
        if document.passages and text == document.text:
            return document.passages
    return [Passage(0, document.text)]


def _tree(document: Document) -> dict[str, Any]:
    passages = [
        {
            "offset": p.offset,
            "infons": {"type": p.type, **p.infons} if p.type else dict(p.infons),
            "text": p.text,
            "sentences": [],
            "annotations": [],
            "relations": [],
        }
        for p in _layout(document)
    ]
    used: set[str] = set()
    counter = iter(range(10**9))

    def new_id(wanted: str) -> str:
        while not wanted or wanted in used:
            wanted = str(next(counter))
        used.add(wanted)
        return wanted

    for mention in sorted(document.mentions, key=lambda m: (m.start, m.end)):
        target = next((p for p in reversed(passages) if p["offset"] <= mention.start), passages[0])
        role = {ROLE: "CompositeMention"} if mention.parts else {}
        target["annotations"].append(_annotation(mention, new_id(mention.id), role))
        for part in mention.parts:
            target["annotations"].append(_annotation(part, new_id(part.id), {ROLE: "IndividualMention"}))
    relations = [
        {
            "id": f"R{i}",
            "infons": {"type": r[0], **{f"arg{j}": v for j, v in enumerate(r[1:], 1)}},
            "nodes": [],
        }
        for i, r in enumerate(document.relations)
        if r
    ]
    return {"id": document.id, "infons": {}, "passages": passages, "annotations": [], "relations": relations}


def _annotation(mention: Mention, identifier: str, role: dict[str, str]) -> dict[str, Any]:
    infons = {"type": mention.type, **role, **mention.infons}
    if mention.ids and not any(k in infons for k in ID_KEYS):
        infons["identifier"] = "|".join(mention.ids)
    return {
        "id": identifier,
        "infons": infons,
        "text": mention.text,
        "locations": [{"offset": start, "length": end - start} for start, end in mention.spans],
    }


def write_bioc_json(documents: Sequence[Document], path: str | os.PathLike[str]) -> None:
    """Write documents as a BioC JSON collection (UTF-8, non-ASCII kept)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(
        json.dumps(to_bioc(documents), ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


def _xml_infon_elements(parent: ET.Element, infons: dict[str, str]) -> None:
    for key, value in infons.items():
        ET.SubElement(parent, "infon", key=key).text = value


def write_bioc_xml(documents: Sequence[Document], path: str | os.PathLike[str]) -> None:
    """Write documents as a BioC XML collection. Characters XML 1.0 cannot hold are an error naming the
    document; a carriage return is written as ``&#13;`` so that it reads back unchanged."""
    collection = ET.Element("collection")
    for key in ("source", "date", "key"):
        ET.SubElement(collection, key).text = "bioner" if key == "source" else ""
    for document in documents:
        bad = next((c for c in document.text + document.id if not _xml_char(c)), None)
        if bad is not None:
            raise CorpusFormatError(path, f"document {document.id}: XML cannot hold the character {bad!r}")
        tree = _tree(document)
        element = ET.SubElement(collection, "document")
        ET.SubElement(element, "id").text = document.id
        for passage in tree["passages"]:
            node = ET.SubElement(element, "passage")
            _xml_infon_elements(node, passage["infons"])
            ET.SubElement(node, "offset").text = str(passage["offset"])
            ET.SubElement(node, "text").text = passage["text"]
            for annotation in passage["annotations"]:
                a = ET.SubElement(node, "annotation", id=annotation["id"])
                _xml_infon_elements(a, annotation["infons"])
                for location in annotation["locations"]:
                    ET.SubElement(
                        a, "location", offset=str(location["offset"]), length=str(location["length"])
                    )
                ET.SubElement(a, "text").text = annotation["text"]
        for relation in tree["relations"]:
            r = ET.SubElement(element, "relation", id=relation["id"])
            _xml_infon_elements(r, relation["infons"])
    ET.indent(collection, space="")
    body = ET.tostring(collection, encoding="unicode").replace("\r", "&#13;")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(_XML_HEADER + body + "\n", encoding="utf-8", newline="")


def _xml_char(char: str) -> bool:
    code = ord(char)
    return code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD or code >= 0x10000
