"""JSON Lines read as it arrives (a remote batch's output file): the oracle is json.loads per line."""

from __future__ import annotations

import base64
import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from imagegate.jsonstream import BadLine, documents
from imagegate.spool import MemorySpool, Spool

PATTERNS = (("response", "body", "data", "*", "b64_json"),)

line_strategy = st.fixed_dictionaries(
    {
        "custom_id": st.text(max_size=12),
        "response": st.fixed_dictionaries(
            {
                "status_code": st.sampled_from([200, 400, 500]),
                "body": st.fixed_dictionaries(
                    {
                        "data": st.lists(
                            st.fixed_dictionaries({"b64_json": st.binary(max_size=300)}), max_size=3
                        )
                    }
                ),
            }
        ),
    }
)


def encoded(line: dict[str, Any]) -> bytes:
    """The line as a provider writes it: the images as base64 text."""
    body = line["response"]["body"]
    data = [{"b64_json": base64.b64encode(item["b64_json"]).decode()} for item in body["data"]]
    shaped = {**line, "response": {**line["response"], "body": {"data": data}}}
    return json.dumps(shaped).encode()


def unspool(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: unspool(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unspool(item) for item in value]
    return value.getvalue() if isinstance(value, Spool) else value


def chunked(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(line_strategy, max_size=5), st.lists(st.integers(min_value=0), max_size=12))
def test_every_line_is_read_as_json_loads_reads_it_with_images_decoded(
    lines: list[Any], cuts: list[int]
) -> None:
    body = b"".join(encoded(line) + b"\n" for line in lines)
    read = [unspool(document) for document in documents(chunked(body, cuts), PATTERNS, MemorySpool)]
    assert read == lines


def test_a_line_that_is_not_json_is_reported_and_the_next_line_is_still_read() -> None:
    good = encoded(
        {"custom_id": "b", "response": {"status_code": 200, "body": {"data": [{"b64_json": b"x"}]}}}
    )
    body = b'{"custom_id": "a", "response": \n' + good + b"\n"
    read = list(documents([body], PATTERNS, MemorySpool))
    assert isinstance(read[0], BadLine) and read[0].number == 1
    assert unspool(read[1])["custom_id"] == "b"


def test_invalid_base64_in_one_line_does_not_lose_the_lines_after_it() -> None:
    body = b'{"custom_id": "a", "response": {"body": {"data": [{"b64_json": "!!"}]}}}\n{"custom_id": "b"}\n'
    read = list(documents([body], PATTERNS, MemorySpool))
    assert isinstance(read[0], BadLine)
    assert read[1] == {"custom_id": "b"}


def test_an_empty_stream_has_no_documents() -> None:
    assert list(documents([b""], PATTERNS, MemorySpool)) == []
    assert list(documents([b"\n\n"], PATTERNS, MemorySpool)) == []
