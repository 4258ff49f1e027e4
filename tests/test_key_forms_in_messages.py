"""The key must not reach the user's terminal (or an agent's transcript) in an encoded form either:
a provider or gateway that echoes the credential it received (a Basic header is base64) or logs it
as hex must not make imagegate print it.
"""

from __future__ import annotations

import base64

import pytest

from .support.faultserver import error_reply
from .support.helpers import API_KEY


@pytest.mark.parametrize(
    "echoed",
    [
        base64.b64encode(f"user:{API_KEY}".encode()).decode(),
        base64.urlsafe_b64encode(API_KEY.encode()).decode(),
        API_KEY.encode().hex(),
    ],
    ids=["basic-header", "base64url", "hex"],
)
def test_a_provider_echoing_the_key_encoded_never_gets_it_printed(cli, server, echoed) -> None:
    server.generations(error_reply(401, f"invalid credential {echoed}"))
    run = cli("--prompt", "p", "--out", "kite.png")
    assert run.code == 3, run.err
    assert echoed not in run.err + run.out
