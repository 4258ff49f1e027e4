"""The streaming parser against the oracle: json.loads, then base64.b64decode(validate=True).

An image field's string that starts as an http(s) link is kept as text (answers that carry a data
URL or a link in the same field).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegate import imagebase64, jsonstream
from imagegate.jsonstream import InvalidAnswer, parse
from imagegate.spool import MemorySpool, Spool

PATTERNS = (("data", "*", "b64_json"),)
DATA_URI = re.compile(r"^data:[\w.+/-]*(;[\w.+-]+=[^;,]*)*;base64,", re.IGNORECASE)


def oracle(body: bytes) -> Any:
    """What the naive parser made of ``body``: images as bytes; raises ValueError when invalid."""
    document = json.loads(body)

    def walk(value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {key: walk(item, (*path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item, (*path, index)) for index, item in enumerate(value)]
        if isinstance(value, str) and len(path) == 3 and path[0] == "data" and path[2] == "b64_json":
            if value.startswith(("http://", "https://")):
                return value
            prefix = DATA_URI.match(value)
            return base64.b64decode(value[prefix.end() :] if prefix else value, validate=True)
        return value

    return walk(document, ())


def streamed(body: bytes, cuts: list[int]) -> Any:
    """The streaming parser's result for ``body`` cut at ``cuts``, with spools read back as bytes."""
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in itertools.pairwise(points)]

    def unspool(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: unspool(item) for key, item in value.items()}
        if isinstance(value, list):
            return [unspool(item) for item in value]
        return value.getvalue() if isinstance(value, Spool) else value

    return unspool(parse(chunks, PATTERNS, MemorySpool))


def same_verdict(body: bytes, cuts: list[int]) -> None:
    """Both parsers agree, whether image strings are decoded in big pieces or in tiny ones."""
    try:
        expected = oracle(body)
    except (ValueError, binascii.Error, RecursionError):
        expected = InvalidAnswer
    usual = imagebase64.DECODE_AT
    for decode_at in (usual, 4):
        imagebase64.DECODE_AT = decode_at
        try:
            if expected is InvalidAnswer:
                with pytest.raises(InvalidAnswer):
                    streamed(body, cuts)
            else:
                assert streamed(body, cuts) == expected
        finally:
            imagebase64.DECODE_AT = usual


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
prefixes = st.sampled_from(
    [
        "",
        "",
        "data:image/png;base64,",
        "DATA:image/webp;base64,",
        "data:;charset=x;base64,",
        "data:x",
        "https://",
        "http:/",
    ]
)


@st.composite
def image_strings(draw: st.DrawFn) -> str:
    text = base64.b64encode(draw(st.binary(max_size=300))).decode()
    if draw(st.booleans()):  # sometimes a little broken: bad padding, a stray character
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["=", "==", "A", "?", "\n", " ", "é", "\\"])) + text[at:]
    return draw(prefixes) + text


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    entries = [
        {
            **draw(st.dictionaries(st.sampled_from(["url", "revised_prompt", "x"]), json_values, max_size=2)),
            "b64_json": draw(image_strings()),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    document = {**draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3)), "data": entries}
    text = json.dumps(document, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 1])))
    if draw(st.booleans()):
        text = text.replace("/", "\\/")  # as PHP-style encoders write it
    return text.encode("utf-8")


cut_lists = st.lists(st.integers(0, 10_000), max_size=12)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(answers(), cut_lists)
def test_streaming_parser_agrees_with_json_loads_and_b64decode(body: bytes, cuts: list[int]) -> None:
    same_verdict(body, cuts)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(answers(), cut_lists, st.integers(0, 10_000), st.binary(max_size=3), st.integers(0, 3))
def test_damaged_answers_get_the_oracles_verdict(
    body: bytes, cuts: list[int], at: int, insert: bytes, delete: int
) -> None:
    at %= len(body) + 1
    same_verdict(body[:at] + insert + body[at + delete :], cuts)


@given(st.binary(max_size=60), cut_lists)
def test_arbitrary_bytes_get_the_oracles_verdict(body: bytes, cuts: list[int]) -> None:
    same_verdict(body, cuts)


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 1000])
def test_escaped_slashes_and_data_prefix_decode_at_any_chunk_size(cut: int) -> None:
    image = bytes(range(256)) * 8
    encoded = "data:image\\/png;base64," + base64.b64encode(image).decode().replace("/", "\\/")
    body = json.dumps({"data": [{"b64_json": "@"}], "created": 1}).replace("@", encoded).encode()
    assert streamed(body, list(range(0, len(body), cut))) == {"data": [{"b64_json": image}], "created": 1}


@pytest.mark.parametrize("number", [b"1.5", b"2e+30", b"-0.25E-3", b"12345678901234567890"])
def test_numbers_cut_anywhere_by_chunk_boundaries_are_read_whole(number: bytes) -> None:
    body = b'{"data": [], "x": ' + number + b"}"
    for cut in range(len(body)):
        assert streamed(body, [cut]) == json.loads(body)


def test_unicode_escapes_of_base64_characters_are_decoded() -> None:
    body = b'{"data": [{"b64_json": "\\u0051\\u0051=="}]}'
    assert streamed(body, [5, 25]) == oracle(body) == {"data": [{"b64_json": b"A"}]}


def test_each_image_is_written_in_pieces_not_held_whole() -> None:
    image = bytes(range(256)) * 8192  # 2 MiB
    body = json.dumps({"data": [{"b64_json": base64.b64encode(image).decode()}]}).encode()
    writes: list[int] = []

    class Recording(MemorySpool):
        def _write(self, data: bytes) -> None:
            writes.append(len(data))
            super()._write(data)

    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    document = parse(chunks, PATTERNS, Recording)
    assert document["data"][0]["b64_json"].getvalue() == image
    assert len(writes) > 4 and max(writes) < len(image) // 4


def test_utf16_answers_are_read_like_json_loads_reads_them() -> None:
    body = json.dumps({"data": [{"b64_json": "QUJD"}], "note": "é"}).encode("utf-16")
    assert streamed(body, [1, 3, 9]) == oracle(body)


def test_deep_nesting_is_an_invalid_answer_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(InvalidAnswer):
        streamed(body, [])


@pytest.mark.parametrize(
    "broken", [b'{"created": tru, ', b'{"created": 1, "usage": {"a" 1}, ', b'{"x": "\\q", ']
)
def test_invalid_json_before_the_images_is_refused_without_reading_them(broken: bytes) -> None:
    image = base64.b64encode(bytes(3 * 1024 * 1024)).decode()
    body = broken + json.dumps({"data": [{"b64_json": image}]})[1:].encode()
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    read: list[bytes] = []

    def arriving():
        for chunk in chunks:
            read.append(chunk)
            yield chunk

    with pytest.raises(InvalidAnswer):
        parse(arriving(), PATTERNS, MemorySpool)
    assert len(read) <= 2


def test_a_huge_value_that_is_not_an_image_is_refused_without_holding_it(monkeypatch) -> None:
    monkeypatch.setattr(jsonstream, "VALUE_LIMIT", 1000)
    body = b'{"data": [], "junk": "' + b"x" * 50_000 + b'"}'
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)]
    with pytest.raises(jsonstream.InvalidAnswer, match="longer than 1000"):
        jsonstream.parse(iter(chunks), (("data", "*", "b64_json"),), MemorySpool)


@pytest.mark.parametrize("cut", [1, 2, 5, 9, 1000])
def test_a_link_in_an_image_field_is_kept_as_text_and_a_data_url_beside_it_is_decoded(cut: int) -> None:
    body = json.dumps(
        {"data": [{"b64_json": "https://cdn.example/a.png?x=1"}, {"b64_json": "data:image/png;base64,AAEC"}]}
    ).encode()
    chunks = [body[i : i + cut] for i in range(0, len(body), cut)]
    document = parse(chunks, PATTERNS, MemorySpool)
    assert document["data"][0]["b64_json"] == "https://cdn.example/a.png?x=1"
    assert document["data"][1]["b64_json"].getvalue() == b"\x00\x01\x02"
