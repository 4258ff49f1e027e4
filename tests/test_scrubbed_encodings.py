"""The key echoed by a provider in the encodings close to those the README lists (RED-TEAM #14):
numeric HTML entities without their ``;``, hex bytes separated as a MAC address is; and a short
config secret (8 to 11 characters) percent- or HTML-encoded.
"""

from __future__ import annotations

import pytest

from imagegate import secret
from imagegate.scrub import REDACTED

from .support.faultserver import error_reply
from .support.helpers import API_KEY

DATA = API_KEY.encode()


@pytest.mark.parametrize(
    "echoed",
    [
        "".join(f"&#{byte}" for byte in DATA),
        "".join(f"&#x{byte:x}" for byte in DATA),
        "".join(f"&#{byte:05d}" for byte in DATA),
        "".join(f"&#{byte}" if index % 2 else chr(byte) for index, byte in enumerate(DATA)),
        DATA.hex(":"),
        DATA.hex(":").upper(),
        DATA.hex(" "),
        DATA.hex("-"),
        DATA.hex("."),
    ],
    ids=[
        "html-dec", "html-hex", "html-padded", "html-every-other",
        "hex-colon", "HEX-COLON", "hex-space", "hex-dash", "hex-dot",
    ],
)  # fmt: skip
def test_a_provider_echoing_the_key_in_a_near_encoding_never_gets_it_printed(cli, server, echoed) -> None:
    server.generations(error_reply(401, f"invalid credential {echoed} (check it)"))
    run = cli("--prompt", "p", "--out", "kite.png", "--verbose")
    assert run.code == 3, run.err
    assert REDACTED in run.err
    assert echoed[:24] not in run.err + run.out
    assert echoed[-24:] not in run.err + run.out


@pytest.mark.parametrize(
    "encode",
    [
        lambda data: "".join(f"%{byte:02X}" for byte in data),
        lambda data: "".join(f"&#{byte};" for byte in data),
        lambda data: "".join(f"&#x{byte:x}" for byte in data),
        lambda data: data.hex(":"),
        lambda data: "\u200b".join(chr(byte) for byte in data),
    ],
    ids=["percent", "html", "html-hex-no-semicolon", "hex-colon", "zero-width"],
)
def test_a_short_config_secret_echoed_escaped_is_scrubbed(encode) -> None:
    password = "gw-Pa55-77"
    secret.remember_setting(password)
    shown = secret.redact(f"gateway says {encode(password.encode())} is wrong")
    assert shown == f"gateway says {REDACTED} is wrong"


def test_words_a_space_apart_never_spell_a_short_secret() -> None:
    secret.remember_setting("gw-Pa55-77")
    assert secret.redact("gw-Pa 55-77 and gw-Pa%2055-77") == "gw-Pa 55-77 and gw-Pa%2055-77"
