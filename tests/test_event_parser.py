"""The server-sent events parser: the standard's line and field rules, fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.streaming import Event, EventParser, EventTooLarge, events

LINE_TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30)
NAME = st.text(
    st.characters(blacklist_characters="\r\n:", blacklist_categories=("Cs",)), min_size=1, max_size=10
)


def parse(*chunks: bytes) -> list[Event]:
    return list(events(chunks))


@st.composite
def streams(draw):
    """A list of events, the bytes of a stream carrying them, and those bytes cut into pieces."""
    newline_styles = draw(st.sampled_from([("\n",), ("\r\n",), ("\r",), ("\n", "\r\n")]))
    specs = draw(
        st.lists(
            st.tuples(st.none() | NAME, st.lists(LINE_TEXT, min_size=1, max_size=4), st.booleans()),
            max_size=6,
        )
    )
    text = "\ufeff" if draw(st.booleans()) else ""
    expected = []
    for kind, data_lines, comment in specs:
        lines = [": a comment"] if comment else []
        lines += [f"event: {kind}"] if kind is not None else []
        lines += [f"data: {line}" for line in data_lines]
        for line in [*lines, ""]:
            text += line + draw(st.sampled_from(newline_styles))
        expected.append(Event(kind, "\n".join(data_lines)))
    data = text.encode("utf-8")
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return expected, pieces


@given(streams())
def test_events_survive_any_line_endings_and_any_cuts(case) -> None:
    expected, pieces = case
    assert parse(*pieces) == expected


@given(st.lists(st.binary(max_size=64), max_size=8))
def test_arbitrary_bytes_never_raise(pieces: list[bytes]) -> None:
    for event in events(pieces):
        assert isinstance(event.data, str)


def test_a_cr_at_the_end_of_one_piece_and_lf_at_the_start_of_the_next_are_one_break() -> None:
    assert parse(b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n") == [Event(None, "a"), Event(None, "b")]


def test_fields_follow_the_standard() -> None:
    stream = b"id: 7\nretry: 1500\nevent: ping\ndata\ndata:x\ndata:  two spaces\nunknown: y\n\n"
    assert parse(stream) == [Event("ping", "\nx\n two spaces", "7", 1500)]


def test_the_last_id_carries_over_and_events_without_data_are_not_given() -> None:
    assert parse(b"id: 1\nevent: a\n\ndata: z\n\n") == [Event(None, "z", "1")]


def test_an_event_cut_off_by_the_end_of_the_stream_is_still_given() -> None:
    assert parse(b'data: {"final": 1}') == [Event(None, '{"final": 1}')]
    assert parse(b"data: x\n") == [Event(None, "x")]
    assert parse(b"event: only-a-type\n") == []


def test_multibyte_characters_split_across_pieces() -> None:
    data = "data: Drachen «über» 龍\n\n".encode()
    assert parse(*(data[i : i + 1] for i in range(len(data)))) == [Event(None, "Drachen «über» 龍")]


def test_an_event_that_never_ends_is_refused_at_the_limit() -> None:
    parser = EventParser(max_event=100)
    parser.feed("data: " + "a" * 50 + "\n")
    with pytest.raises(EventTooLarge):
        parser.feed("data: " + "b" * 60)
    with pytest.raises(EventTooLarge):
        EventParser(max_event=100).feed("x" * 101)
