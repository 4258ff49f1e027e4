"""The key never shows: not on stdout or stderr, in exceptions, --verbose, --dry-run, logs or debug prints.

Every check looks for the whole key and for its last 12 characters.
"""

from __future__ import annotations

import http.client
import logging
import os
import sys
import traceback

import pytest

import imagegate
from imagegate.scrub import REDACTED
from imagegate.secret import RedactingStream, redact

from .support.faultserver import Reply, error_reply, image_reply
from .support.helpers import API_KEY, BASE, CANARY_ENV_KEY, KEY_TAIL, write_config

ECHO = f"Incorrect API key provided: {API_KEY}. You can find your API key at https://example.test"


def assert_clean(*texts: str) -> None:
    for text in texts:
        assert API_KEY not in text
        assert KEY_TAIL not in text
        assert CANARY_ENV_KEY not in text


@pytest.fixture
def debug_everything(monkeypatch, caplog):
    """http.client prints its traffic and urllib3 logs at DEBUG to a handler on the root logger."""
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    caplog.set_level(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    yield caplog
    logging.getLogger().removeHandler(handler)


def test_the_key_reaches_the_provider_but_no_output(cli, server, debug_everything) -> None:
    server.generations(image_reply())
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 0, run.err
    assert server.seen[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert "send: b'POST /v1/images/generations" in run.out + run.err  # http.client did print
    assert_clean(run.out, run.err, debug_everything.text)


def test_verbose_shows_requests_and_responses_with_the_key_redacted(cli, server) -> None:
    server.generations(image_reply())
    run = cli("--prompt", "a red kite", "--out", "a.png", "--verbose")
    assert run.code == 0, run.err
    assert "-> POST http://127.0.0.1" in run.err
    assert f"Authorization: {REDACTED}" in run.err
    assert "body prompt = a red kite" in run.err
    assert "<- HTTP 200" in run.err
    assert_clean(run.out, run.err)


def test_an_error_body_echoing_the_key_is_redacted_everywhere(cli, server, debug_everything) -> None:
    server.generations(error_reply(401, ECHO, "invalid_api_key"))
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 3
    assert "Incorrect API key provided" in run.err
    assert_clean(run.out, run.err, debug_everything.text)


def test_library_exceptions_carry_no_key(server) -> None:
    server.generations(error_reply(401, ECHO, "invalid_api_key"))
    with pytest.raises(imagegate.ProviderRefused) as caught:
        imagegate.generate("p")
    error = caught.value
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert_clean(str(error), repr(error), " ".join(error.hints), shown)


def test_library_calls_with_http_client_debug_on_print_no_key(server, capsys, monkeypatch) -> None:
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)
    server.generations(error_reply(401, ECHO, "invalid_api_key"))
    with pytest.raises(imagegate.ProviderRefused):
        imagegate.generate("p")
    captured = capsys.readouterr()
    assert "send: b'POST" in captured.out
    assert_clean(captured.out, captured.err)


def test_a_key_echoed_in_a_5xx_html_page_is_redacted(cli, server) -> None:
    server.generations(
        Reply(status=502, body=f"<html>upstream rejected {API_KEY}</html>", content_type="text/html")
    )
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 5
    assert_clean(run.out, run.err)


def test_the_key_tail_alone_is_redacted(cli, server) -> None:
    server.generations(error_reply(401, f"key ending in ...{KEY_TAIL} is revoked", "invalid_api_key"))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 3
    assert_clean(run.out, run.err)


def test_dry_run_shows_the_request_with_the_key_redacted(cli, server) -> None:
    run = cli("--prompt", "p", "--out", "a.png", "--dry-run", "--verbose")
    assert run.code == 0, run.err
    assert run.json["headers"]["Authorization"] == REDACTED
    assert_clean(run.out, run.err)
    assert server.seen == []


def test_dry_run_of_a_key_in_a_custom_header_is_redacted(cli, make_config) -> None:
    make_config(
        {
            "provider": "compatible",
            "api_key": API_KEY,
            "base_url": "https://gateway.example.test/v1",
            "auth_header": "api-key",
            "auth_scheme": "",
            "headers": {"X-Copy": API_KEY},
        }
    )
    run = cli("--prompt", "p", "--dry-run")
    assert run.code == 0, run.err
    assert run.json["headers"]["api-key"] == REDACTED
    assert_clean(run.out, run.err)


def test_the_environment_key_is_never_read(cli, requests_mock) -> None:
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2  # no config file: OPENAI_API_KEY is not a fallback
    assert requests_mock.call_count == 0
    assert_clean(run.out, run.err)


def test_redacting_stream_catches_a_key_printed_in_pieces(capsys) -> None:
    imagegate.secret.remember(API_KEY)
    stream = RedactingStream(sys.stdout)
    print("send:", API_KEY[:10], end="", file=stream)
    print(API_KEY[10:], file=stream)
    print("tail", KEY_TAIL, file=stream, end="")
    stream.flush()
    assert_clean(capsys.readouterr().out)


def test_redact_scrubs_log_records_of_any_logger(caplog) -> None:
    imagegate.secret.remember(API_KEY)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug("header: Authorization: Bearer %s", API_KEY)
    assert REDACTED in caplog.text
    assert_clean(caplog.text, redact(f"x{API_KEY}y"))


# -- the config file, ssh-style ----------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o620])
def test_a_config_others_can_read_is_refused(cli, config_dir, mode) -> None:
    path = write_config(config_dir / "config.json", {"api_key": API_KEY}, mode=mode)
    run = cli("--prompt", "p", "--dry-run")
    assert run.code == 2
    assert str(path) in run.err
    assert f"chmod 600 {path}" in run.err
    assert_clean(run.out, run.err)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_config_is_accepted(cli, config_dir, mode) -> None:
    write_config(config_dir / "config.json", {"api_key": API_KEY, "base_url": BASE}, mode=mode)
    assert cli("--prompt", "p", "--dry-run").code == 0


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners")
def test_a_config_owned_by_another_user_is_refused(cli, config_dir, monkeypatch) -> None:
    path = write_config(config_dir / "config.json", {"api_key": API_KEY})
    owner = os.stat(path).st_uid
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    run = cli("--prompt", "p", "--dry-run")
    assert run.code == 2
    assert "owned by another user" in run.err and str(path) in run.err
    assert f"chmod 600 {path}" in run.err


def test_windows_skips_the_permission_check(cli, config_dir, monkeypatch) -> None:
    write_config(config_dir / "config.json", {"api_key": API_KEY, "base_url": BASE}, mode=0o644)
    monkeypatch.setattr(sys, "platform", "win32")
    assert cli("--prompt", "p", "--dry-run").code == 0


# -- plaintext HTTP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://api.example.test/v1",
        "http://8.8.8.8/v1",
        "http://169.254.169.254/v1",
        "http://[2606:4700:4700::1111]/v1",
    ],
)
def test_plaintext_http_to_the_internet_is_refused_before_sending(
    cli, make_config, requests_mock, base_url
) -> None:
    make_config({"api_key": API_KEY, "base_url": base_url})
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2
    assert "plaintext HTTP" in run.err
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "base_url",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://[::1]:9000/v1",
        "http://10.1.2.3/v1",
        "http://192.168.0.7/v1",
        "http://172.16.5.5/v1",
    ],
)
def test_plaintext_http_to_loopback_or_private_is_allowed(cli, make_config, base_url) -> None:
    make_config({"api_key": API_KEY, "base_url": base_url})
    run = cli("--prompt", "p", "--dry-run")
    assert run.code == 0, run.err
    assert_clean(run.out, run.err)


@pytest.mark.parametrize("base_url", ["ftp://files.example.test/v1", "file://localhost/etc"])
def test_a_base_url_that_is_not_http_is_refused(cli, make_config, base_url) -> None:
    make_config({"api_key": API_KEY, "base_url": base_url})
    assert cli("--prompt", "p", "--dry-run").code == 2
