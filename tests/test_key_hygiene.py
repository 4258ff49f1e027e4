"""Audit findings about the key: malformed keys, reprs and exception chains, proxies, partial echoes,
mapped addresses, odd config files and echoed argument values."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import traceback
from pathlib import Path

import pytest

import imagegate
from imagegate.adapter import HttpRequest
from imagegate.addresses import check_endpoint, check_url, is_private_host
from imagegate.cli import main
from imagegate.dispatch import prepare
from imagegate.errors import NetworkError, UnusableAnswer, UsageError
from imagegate.options import Asked, Options
from imagegate.providers.compatible import CompatibleAdapter
from imagegate.scrub import REDACTED
from imagegate.secret import Secret, redact
from imagegate.testing import registered

from .support.faultserver import FaultServer, Reply, local_config
from .support.helpers import API_KEY, KEY_TAIL, images_answer, png, write_config

GEN = "https://api.example.test/v1/images/generations"
PIECES = (API_KEY[3:], API_KEY[:-1], API_KEY[5:17], API_KEY[:12])


def assert_no_piece_of_the_key(*texts: str) -> None:
    for text in texts:
        for piece in (API_KEY, KEY_TAIL, API_KEY[:12], API_KEY[10:22], API_KEY[3:15]):
            assert piece not in text


# -- 1: a key HTTP cannot carry is refused when the config is read, without showing it ----------
@pytest.mark.parametrize(
    "key", [API_KEY + "\n", API_KEY + " ", "sk-test-\u0142" + API_KEY[9:], API_KEY + "\x7f"]
)
def test_a_key_a_header_cannot_carry_is_refused_at_load_without_showing_it(cli, make_config, key) -> None:
    make_config(api_key=key)
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "api_key" in run.err and "not shown" in run.err
    assert "internal error" not in run.err
    assert_no_piece_of_the_key(run.out, run.err)


def test_config_check_reports_a_key_with_a_line_break(cli, make_config) -> None:
    make_config(api_key=API_KEY + "\n")
    run = cli("config", "check")
    assert run.code == 2
    assert "line breaks" in run.err
    assert_no_piece_of_the_key(run.out, run.err)


def test_config_init_refuses_a_key_beyond_latin_1(cli, monkeypatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("sk-test-\u20ac" + API_KEY[9:] + "\n"))
    run = cli("config", "init", "--provider", "openai")
    assert run.code == 2
    assert "Latin-1" in run.err
    assert_no_piece_of_the_key(run.out, run.err)


class _KeyHeaderAdapter(CompatibleAdapter):
    """A plugin that puts the revealed key in a plain header of its own, around ``before`` and ``after``."""

    name = "key-header-test"
    before, after = "Key ", ""

    def build_request(self, options: Options) -> HttpRequest:
        request = super().build_request(options)
        request.headers["X-Key"] = f"{self.before}{self.profile.api_key.reveal()}{self.after}"
        return request


class _LooseHeaderAdapter(_KeyHeaderAdapter):
    after = "\n"  # requests refuses the header, quoting it


class _WideHeaderAdapter(_KeyHeaderAdapter):
    before = "\u20ac "  # http.client cannot encode it as Latin-1


@pytest.mark.parametrize("adapter", [_LooseHeaderAdapter, _WideHeaderAdapter])
def test_a_header_http_cannot_carry_is_a_usage_error_not_quoting_it(cli, make_config, adapter) -> None:
    with FaultServer() as server, registered(adapter):
        local_config(make_config, server, provider="key-header-test")
        run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "cannot read an input file" not in run.err and "internal error" not in run.err
    assert "header" in run.err
    assert_no_piece_of_the_key(run.out, run.err)


def test_an_unusable_url_is_not_called_an_input_file_problem(cli, make_config) -> None:
    make_config(base_url="https://api.example.test:99999/v1")
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "cannot read an input file" not in run.err


def test_redaction_covers_the_repr_and_json_forms_of_a_key() -> None:
    key = "sk-test-abc\x01" + API_KEY[12:]
    Secret(key)
    for text in (repr(key), json.dumps({"k": key}), repr(f"Bearer {key}")):
        assert "sk-test-abc" not in redact(text), text


# -- 4: neither a request's repr nor an exception chain shows the key ----------------------------
def test_a_prepared_request_holds_the_key_as_a_secret_and_its_repr_hides_it(make_config) -> None:
    make_config()
    call = prepare(Asked(prompt="p"))
    assert isinstance(call.request.headers["Authorization"], Secret)
    assert_no_piece_of_the_key(repr(call.request), repr(call))


def test_the_repr_of_a_request_with_a_plain_key_header_hides_it() -> None:
    request = HttpRequest("POST", "https://x.test", {"X-Key": API_KEY}, secret_headers=frozenset({"x-key"}))
    assert API_KEY not in repr(request)
    assert REDACTED in repr(request)


def test_an_error_after_sending_keeps_no_link_to_the_sent_headers(make_config) -> None:
    with FaultServer() as server:
        local_config(make_config, server)
        server.generations(Reply(hang_up=True))
        with pytest.raises(NetworkError) as caught:
            imagegate.generate("p", out="a.png")
    error = caught.value
    assert error.__context__ is None and error.__cause__ is None
    shown = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert_no_piece_of_the_key(shown)


# -- 7: plaintext HTTP goes through no proxy but a local one ------------------------------------
def test_plaintext_to_a_private_host_is_refused_through_a_public_proxy(
    cli, make_config, requests_mock, monkeypatch
) -> None:
    make_config(base_url="http://10.255.255.1:9/v1")
    monkeypatch.setenv("HTTP_PROXY", "http://8.8.8.8:3128")
    route = requests_mock.post("http://10.255.255.1:9/v1/images/generations", json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "proxy" in run.err
    assert not route.called


def test_plaintext_through_a_private_proxy_still_works(cli, make_config, requests_mock, monkeypatch) -> None:
    make_config(base_url="http://10.255.255.1:9/v1")
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.2:3128")
    route = requests_mock.post("http://10.255.255.1:9/v1/images/generations", json=images_answer(png()))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert route.called


# -- 11: any 12 characters of the key in a row, escaped or not, are scrubbed ----------------------
@pytest.mark.parametrize("piece", PIECES)
def test_any_long_piece_of_the_key_is_redacted(piece) -> None:
    Secret(API_KEY)
    shown = redact(f"key ending {piece} is revoked")
    assert piece not in shown and REDACTED in shown
    assert shown.startswith("key ending ") and shown.endswith(" is revoked")


def test_a_unicode_escaped_key_is_redacted() -> None:
    Secret(API_KEY)
    escaped = "".join(f"\\u{ord(char):04x}" for char in API_KEY[2:])
    shown = redact('{"error": {"message": "bad key ' + escaped + '"}}')
    assert escaped not in shown and API_KEY[2:] not in shown


def test_text_without_the_key_is_left_as_it_is() -> None:
    Secret(API_KEY)
    text = '{"prompt": "caf\\u00e9 \\u0022' + API_KEY[:11] + '"}\n'
    assert redact(text) == text


def test_a_401_echoing_part_of_the_key_shows_none_of_it(cli, make_config, requests_mock) -> None:
    make_config()
    body = {"error": {"message": f"Incorrect API key provided: {API_KEY[3:]}", "code": "invalid_api_key"}}
    requests_mock.post(GEN, status_code=401, json=body)
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 3
    assert_no_piece_of_the_key(run.out, run.err)


# -- 12: IPv4-mapped IPv6 addresses and names that do not resolve --------------------------------
def test_a_mapped_cloud_metadata_address_is_refused_even_for_a_private_provider() -> None:
    with pytest.raises(UnusableAnswer, match="metadata"):
        check_url("http://[::ffff:169.254.169.254]/latest", allow_private=True)


def test_a_mapped_loopback_address_is_refused_for_a_public_provider() -> None:
    with pytest.raises(UnusableAnswer, match="loopback"):
        check_url("http://[::ffff:127.0.0.1]:8080/x.png", allow_private=False)


def test_a_mapped_public_address_is_not_a_private_endpoint() -> None:
    assert not is_private_host("[::ffff:8.8.8.8]")
    with pytest.raises(UsageError, match="plaintext"):
        check_endpoint("http://[::ffff:8.8.8.8]/v1")


def test_an_unresolvable_image_host_behind_a_proxy_is_refused(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise socket.gaierror("no such name")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.2:3128")
    with pytest.raises(NetworkError, match="does not resolve"):
        check_url("https://metadata.internal.test/x.png", allow_private=False)


# -- 14: a config nested too deeply, or one that is not a regular file --------------------------
def test_a_deeply_nested_config_is_a_config_error(cli, config_dir) -> None:
    path = write_config(config_dir / "config.json", {})
    path.write_text('{"extra_body": ' + "[" * 100_000 + "]" * 100_000 + "}")
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 2, run.err
    assert "nested too deeply" in run.err


def _run_unblocked(args: list[str], fifo: Path, capsys) -> tuple[int | None, str]:
    """Run the CLI in a thread; if it blocks on the FIFO, feed the FIFO so the test fails, not hangs."""
    outcome: list[int] = []
    worker = threading.Thread(target=lambda: outcome.append(main(args)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():
        with open(fifo, "w") as writer:
            writer.write("{}")
        worker.join(10)
        return None, "blocked on the FIFO"
    return outcome[0], capsys.readouterr().err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("command", [["--prompt", "p", "--out", "a.png"], ["config", "check"]])
def test_a_fifo_as_config_is_refused_instead_of_read(tmp_path, capsys, command) -> None:
    fifo = tmp_path / "config.json"
    os.mkfifo(fifo, 0o600)
    code, err = _run_unblocked([*command, "--config", str(fifo)], fifo, capsys)
    assert code == 2, err
    assert "not a regular file" in err


# -- 15: argument errors never echo the value ---------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["--prompt", "p", "--quality", API_KEY],
        ["--prompt", "p", "--format", API_KEY],
        ["--prompt", "p", "--timeout", API_KEY],
        ["--prompt", "p", "--n", API_KEY],
        ["--prompt", "p", "--output-compression", API_KEY],
        ["batch", "--out-dir", "o", "--quality", API_KEY, "jobs.jsonl"],
        ["config", "init", "--base-url", API_KEY],
        ["config", API_KEY],
    ],
)
def test_an_invalid_argument_value_is_not_echoed(cli, args) -> None:
    run = cli(*args)
    assert run.code == 2
    assert API_KEY not in run.err and API_KEY[:12] not in run.err


def test_an_invalid_choice_still_lists_the_choices(cli) -> None:
    run = cli("--prompt", "p", "--quality", "ultra")
    assert run.code == 2
    assert "invalid choice" in run.err and "'high'" in run.err
    assert "ultra" not in run.err


def _sent_header_values(error: BaseException) -> list[str]:
    """Every header value reachable from the local variables of the error's traceback frames."""
    values: list[str] = []
    seen: set[int] = set()
    for exc in (error, error.__context__):
        trace = exc.__traceback__ if exc is not None else None
        while trace is not None:
            for value in trace.tb_frame.f_locals.values():
                for holder in (value, getattr(value, "request", None)):
                    headers = getattr(holder, "headers", None)
                    if id(holder) in seen or not hasattr(headers, "values"):
                        continue
                    seen.add(id(holder))
                    values += [str(item) for item in headers.values()]
            trace = trace.tb_next
    return values


def test_the_frames_of_an_error_after_sending_hold_no_sent_key(make_config) -> None:
    with FaultServer() as server:
        local_config(make_config, server)
        server.generations(Reply(status=500, body=b'{"error": {"message": "boom"}}'))
        with pytest.raises(NetworkError) as caught:
            imagegate.generate("p", out="a.png", retries=0)
    values = _sent_header_values(caught.value)
    assert values, "the test found no headers to look at"
    for value in values:
        assert_no_piece_of_the_key(value)
