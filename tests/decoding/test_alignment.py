"""Free-generated answers: always one valid IOB2 tag per word, and every repair counted."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner.decoding.alignment import ALIGNMENT_FIELDS, align_answer, sum_counts
from bioner.decoding.prompts import build_prompt_format
from bioner.decoding.viterbi import allowed_transitions

LABELS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
FORMATS = {name: build_prompt_format(name, LABELS) for name in ("tags", "paper")}
WORDS = ["Aspirin", "caused", "acute", "renal", "failure", "."]
TAGS = ["B-Chemical", "O", "B-Disease", "I-Disease", "I-Disease", "O"]

both_formats = pytest.mark.parametrize("fmt", list(FORMATS.values()), ids=list(FORMATS))


def is_valid_iob2(tags):
    start_ok, step_ok = allowed_transitions(LABELS)
    index = [LABELS.index(tag) for tag in tags]
    return not index or (
        start_ok[index[0]] and all(step_ok[a, b] for a, b in zip(index[:-1], index[1:], strict=True))
    )


def expect(counts, **nonzero):
    assert set(counts) == set(ALIGNMENT_FIELDS)
    assert counts == {key: nonzero.get(key, 0) for key in ALIGNMENT_FIELDS}


def line(fmt, word, tag):
    return f"{word}{fmt.word_tag_separator}{fmt.tag_text(tag)}\n"


def lines(fmt, words=WORDS, tags=TAGS):
    return [line(fmt, word, tag) for word, tag in zip(words, tags, strict=True)]


@both_formats
def test_well_formed_answer_round_trips(fmt):
    tags, counts = align_answer(fmt.answer(WORDS, TAGS), WORDS, fmt)
    assert tags == TAGS
    expect(counts, aligned=1)


@both_formats
def test_last_line_without_line_end_is_still_aligned(fmt):
    tags, counts = align_answer(fmt.answer(WORDS, TAGS).rstrip("\n"), WORDS, fmt)
    assert tags == TAGS
    expect(counts, aligned=1)


@both_formats
def test_windows_line_ends(fmt):
    tags, counts = align_answer(fmt.answer(WORDS, TAGS).replace("\n", "\r\n"), WORDS, fmt)
    assert tags == TAGS
    expect(counts, aligned=1)


@both_formats
def test_blank_lines_and_stray_spaces_are_ignored(fmt):
    text = "\n \n" + "".join(f"  {text}" for text in lines(fmt)).replace("\n", " \n\n")
    tags, counts = align_answer(text, WORDS, fmt)
    assert tags == TAGS
    expect(counts, aligned=1)


@both_formats
@pytest.mark.parametrize("dropped", [0, 2, 3, 5])
def test_missing_line_gets_outside(fmt, dropped):
    answer = lines(fmt)
    del answer[dropped]
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    expected = list(TAGS)
    expected[dropped] = "O"
    orphan = dropped + 1 < len(TAGS) and TAGS[dropped + 1].startswith("I-")
    if orphan:  # the entity lost its first word: the next one becomes its start
        expected[dropped + 1] = "B-" + TAGS[dropped + 1][2:]
    assert tags == expected
    expect(counts, missing_lines=1, bio_repairs=int(orphan))


@both_formats
def test_several_missing_lines(fmt):
    answer = lines(fmt)
    tags, counts = align_answer("".join(answer[1:2] + answer[4:]), WORDS, fmt)
    assert tags == ["O", "O", "O", "O", "B-Disease", "O"]
    expect(counts, missing_lines=3, bio_repairs=1)


@both_formats
@pytest.mark.parametrize("position", [0, 3, 6])
def test_extra_line_is_dropped(fmt, position):
    answer = lines(fmt)
    answer.insert(position, line(fmt, "nonsense", "B-Chemical"))
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == TAGS
    expect(counts, extra_lines=1)


@both_formats
def test_repeated_lines_at_the_end_are_dropped(fmt):
    answer = lines(fmt)
    tags, counts = align_answer("".join(answer + answer[-2:] * 3), WORDS, fmt)
    assert tags == TAGS
    expect(counts, extra_lines=6)


@both_formats
def test_wrong_word_keeps_its_tag(fmt):
    answer = lines(fmt)
    answer[3] = line(fmt, "renl", "I-Disease")
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == TAGS
    expect(counts, word_mismatches=1)


@both_formats
def test_wrong_word_next_to_a_missing_line(fmt):
    answer = lines(fmt)
    answer[3] = line(fmt, "renl", "I-Disease")
    del answer[0]
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["O", *TAGS[1:]]
    expect(counts, missing_lines=1, word_mismatches=1)


@both_formats
@pytest.mark.parametrize("bad_tag", ["B-Gene", "Chemical", "B-chemical", ""])
def test_invalid_tag_becomes_outside(fmt, bad_tag):
    answer = lines(fmt)
    answer[0] = f"Aspirin{fmt.word_tag_separator}{fmt.tag_text(bad_tag) if bad_tag else ''}\n"
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["O", *TAGS[1:]]
    expect(counts, invalid_tags=1)


@both_formats
def test_invalid_tag_line_still_aligns_by_its_word(fmt):
    answer = lines(fmt)
    answer[2] = f"acute{fmt.word_tag_separator}{fmt.tag_text('B-Gene')}\n"
    del answer[5]
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["B-Chemical", "O", "O", "B-Disease", "I-Disease", "O"]
    expect(counts, missing_lines=1, invalid_tags=1, bio_repairs=1)


def test_tag_without_angle_brackets_is_invalid_in_tags_format():
    fmt = FORMATS["tags"]
    answer = lines(fmt)
    answer[0] = "Aspirin B-Chemical\n"
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["O", *TAGS[1:]]
    expect(counts, invalid_tags=1)
    answer[0] = "AspirinB-Chemical\n"  # glued: the word itself no longer matches
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["O", *TAGS[1:]]
    expect(counts, invalid_tags=1, word_mismatches=1)


def test_angle_bracket_tag_is_invalid_in_paper_format():
    fmt = FORMATS["paper"]
    answer = lines(fmt)
    answer[0] = "Aspirin:<B-Chemical>\n"
    tags, counts = align_answer("".join(answer), WORDS, fmt)
    assert tags == ["O", *TAGS[1:]]
    assert counts["invalid_tags"] == 1 and counts["aligned"] == 0


@both_formats
def test_orphan_inside_tag_is_repaired(fmt):
    given_tags = ["I-Chemical", "O", "I-Disease", "I-Disease", "I-Chemical", "O"]
    tags, counts = align_answer(fmt.answer(WORDS, given_tags), WORDS, fmt)
    assert tags == ["B-Chemical", "O", "B-Disease", "I-Disease", "B-Chemical", "O"]
    expect(counts, aligned=1, bio_repairs=3)  # the answer itself was well-formed


@both_formats
@pytest.mark.parametrize("text", ["", "\n", " \n\r\n\t\n"])
def test_empty_output(fmt, text):
    tags, counts = align_answer(text, WORDS, fmt)
    assert tags == ["O"] * len(WORDS)
    expect(counts, empty_output=1, missing_lines=len(WORDS))


@both_formats
def test_no_words(fmt):
    assert align_answer("", [], fmt) == ([], {**dict.fromkeys(ALIGNMENT_FIELDS, 0), "aligned": 1})
    tags, counts = align_answer(line(fmt, "stray", "O"), [], fmt)
    assert tags == []
    expect(counts, extra_lines=1)


UNICODE_WORDS = ["β-blocker", "Na⁺", "IL-1β", "naïve", "中文", "Ca²⁺"]
UNICODE_TAGS = ["B-Chemical", "B-Chemical", "O", "O", "B-Disease", "B-Chemical"]
PUNCT_WORDS = ["p<0.05", "1:2", "<", ":", "a<b>", "x:", "<O>", "http://x"]
PUNCT_TAGS = ["O", "B-Chemical", "I-Chemical", "O", "B-Disease", "I-Disease", "O", "B-Chemical"]


@both_formats
@pytest.mark.parametrize(("words", "gold"), [(UNICODE_WORDS, UNICODE_TAGS), (PUNCT_WORDS, PUNCT_TAGS)])
def test_unusual_words(fmt, words, gold):
    tags, counts = align_answer(fmt.answer(words, gold), words, fmt)
    assert tags == gold
    expect(counts, aligned=1)
    answer = lines(fmt, words, gold)
    for dropped in range(len(words)):  # by difflib: every other line still finds its word
        text = "".join(answer[:dropped] + answer[dropped + 1 :])
        tags, counts = align_answer(text, words, fmt)
        assert tags[:dropped] == gold[:dropped]
        assert tags[dropped] == "O"
        assert [tag[2:] for tag in tags[dropped + 1 :]] == [tag[2:] for tag in gold[dropped + 1 :]]
        assert counts["missing_lines"] == 1 and counts["extra_lines"] == counts["word_mismatches"] == 0


@both_formats
@pytest.mark.parametrize("cut", [1, 3, 5])
def test_truncated_last_line(fmt, cut):
    """Generation stopped inside the last tag: the word is kept, the tag is invalid."""
    text = fmt.answer(WORDS, TAGS).rstrip("\n")
    if fmt.output_format == "tags":  # tags are single tokens; a cut shows as a partial spelled-out tag
        text = text[: -len("<O>")] + "<B-Disease>"[:-cut]
    else:
        text = text[: -len(":O")] + ":B-Disease"[:-cut]
    tags, counts = align_answer(text, WORDS, fmt)
    assert tags == TAGS
    expect(counts, invalid_tags=1)


@both_formats
def test_truncated_inside_a_word(fmt):
    words = [*WORDS, "nephrotoxicity"]
    tags, counts = align_answer(fmt.answer(WORDS, TAGS) + "nephro", words, fmt)
    assert tags == TAGS + ["O"]
    expect(counts, word_mismatches=1, invalid_tags=1)
    tags, counts = align_answer(fmt.answer(WORDS[:3], TAGS[:3]) + "ren", words, fmt)
    assert tags == TAGS[:3] + ["O"] * 4
    expect(counts, missing_lines=4, extra_lines=1)  # the cut line pairs with no word: it is dropped


def test_sum_counts():
    fmt = FORMATS["tags"]
    per_instance = [align_answer(fmt.answer(WORDS, TAGS), WORDS, fmt)[1], align_answer("", WORDS, fmt)[1]]
    total = sum_counts(per_instance)
    assert list(total) == ["instances", *ALIGNMENT_FIELDS]
    assert total["instances"] == 2 and total["aligned"] == 1 and total["empty_output"] == 1
    assert total["missing_lines"] == len(WORDS)
    assert sum_counts([]) == dict.fromkeys(["instances", *ALIGNMENT_FIELDS], 0)


# --- property: whatever the damage, one valid tag per word; without damage, the gold tags ---

WORD_CHARS = st.one_of(
    st.sampled_from(list(":<>-BIO")),
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
)
WORD = st.text(WORD_CHARS, min_size=1, max_size=6)


@st.composite
def iob2_tags(draw, length):
    tags, previous_type = [], None
    for _ in range(length):
        choice = draw(st.sampled_from(["O", "B-Chemical", "B-Disease", "I"]))
        if choice == "I":
            choice = f"I-{previous_type}" if previous_type else "O"
        tags.append(choice)
        previous_type = choice[2:] or None
    return tags


DAMAGE = st.sampled_from(["delete", "duplicate", "word", "tag", "truncate", "blank", "garbage"])


@settings(max_examples=300, deadline=None)
@given(
    fmt_name=st.sampled_from(list(FORMATS)),
    words=st.lists(WORD, max_size=12),
    data=st.data(),
    damage=st.lists(st.tuples(DAMAGE, st.integers(0, 20), WORD), max_size=4),
    crlf=st.booleans(),
)
def test_any_answer_gives_one_valid_tag_per_word(fmt_name, words, data, damage, crlf):
    fmt = FORMATS[fmt_name]
    gold = data.draw(iob2_tags(len(words)))
    answer = lines(fmt, words, gold)
    for kind, position, text in damage:
        index = position % len(answer) if answer else 0
        if kind == "delete" and answer:
            del answer[index]
        elif kind == "duplicate" and answer:
            answer.insert(index, answer[index])
        elif kind == "word" and answer:
            answer[index] = text + answer[index]
        elif kind == "tag" and answer:
            answer[index] = answer[index].rstrip("\n") + text + "\n"
        elif kind == "truncate" and answer:
            answer[index] = answer[index][: position % (len(answer[index]) + 1)]
        elif kind == "blank":
            answer.insert(index, "\n")
        elif kind == "garbage":
            answer.insert(index, text + "\n")
    output = "".join(answer)
    tags, counts = align_answer(output.replace("\n", "\r\n") if crlf else output, words, fmt)
    assert len(tags) == len(words)
    assert set(tags) <= set(fmt.labels)
    assert is_valid_iob2(tags)
    assert set(counts) == set(ALIGNMENT_FIELDS)
    assert all(isinstance(value, int) and value >= 0 for value in counts.values())
    assert counts["missing_lines"] <= len(words)
    if not damage:
        assert tags == gold
        expect(counts, aligned=1)
