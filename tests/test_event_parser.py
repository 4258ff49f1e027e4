"""The server-sent events parser: the standard's line and field rules, fuzzed with hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.sse import Event, EventTooLarge, events, incoming

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
    with pytest.raises(EventTooLarge):
        list(events([b"data: " + b"a" * 50 + b"\n", b"data: " + b"b" * 60], max_event=100))
    with pytest.raises(EventTooLarge):
        list(events([b"x" * 101], max_event=100))
    two = [b"data: " + b"a" * 50 + b"\n\n", b"data: " + b"b" * 50 + b"\n\n"]
    assert list(events(two, max_event=100)) == [Event(None, "a" * 50), Event(None, "b" * 50)]  # per event


def test_an_event_is_given_as_soon_as_its_data_begins_and_its_data_a_piece_at_a_time() -> None:
    read: list[bytes] = []

    def chunks():
        for chunk in (b"event: done\ndata: ", b"x" * 10, b"y" * 10, b"\nid: 4\n\n", b"data: next\n\n"):
            read.append(chunk)
            yield chunk

    stream = incoming(chunks())
    event = next(stream)
    assert event.start(5) == "x" * 10 and len(read) == 2  # nothing beyond the first piece was read
    assert event.event is None and not event.whole  # its fields may still come
    assert "".join(event) == "x" * 10 + "y" * 10
    assert (event.event, event.id, event.whole) == ("done", "4", True)
    assert "".join(next(stream)) == "next"


def test_what_a_reader_leaves_unread_of_an_event_is_skipped() -> None:
    stream = incoming([b"data: a\ndata: ", b"b" * 100, b"\n\ndata: c\n\n"])
    assert next(stream).start(1) == "a"  # the rest of the first event is never read
    assert "".join(next(stream)) == "c"


@given(streams(), st.integers(0, 40))
def test_events_read_in_pieces_are_the_whole_events(case, peek: int) -> None:
    expected, pieces = case
    got = []
    for event in incoming(pieces):
        start = event.start(peek)
        data = "".join(event)
        assert data.startswith(start) and (len(start) >= peek or start == data)
        got.append(Event(event.event, data, event.id, event.retry))
    assert got == expected


def test_a_name_or_id_field_is_held_only_up_to_its_limit() -> None:
    with pytest.raises(EventTooLarge, match="event field"):
        list(events([b"event: ", *[b"x" * 4096] * 17, b"\ndata: {}\n\n"]))
    long_id = "7" * 60_000
    assert list(events([b"id: " + long_id.encode() + b"\ndata: {}\n\n"])) == [Event(None, "{}", long_id)]


def test_a_retry_field_of_thousands_of_digits_is_ignored() -> None:
    # int() refuses more than 4300 digits; a hostile stream must not turn that into an error
    assert list(events([b"retry: " + b"9" * 5000 + b"\ndata: {}\n\n"])) == [Event(None, "{}")]
