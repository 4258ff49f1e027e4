"""The API key as a value that cannot leak by accident, and the redaction every output passes through."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any, TextIO

from .scrub import NORMALISE, REDACTED, WINDOW, Scrubber, compile, scrub, scrub_normalised

#: Header names that carry credentials whatever the adapter says (shown redacted).
ALWAYS_SECRET = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization", "cookie"})
_known: set[str] = set()
#: The keys themselves (held in a Secret): never shown, not even inside one of imagegate's paths.
_keys: set[str] = set()
#: Paths imagegate made itself, shown as they are (see :func:`own`), by the folder they start with
#: (up to their last separator), and the lengths they come in: a text is searched once per folder
#: and length, not once per path (a batch registers tens of thousands).
_own: dict[str, tuple[set[str], set[int]]] = {}
#: The text of every secret that is a number (``"apiKey": 918273645546372819``), also in _known.
_numbers: set[str] = set()
#: A JSON string (skipped: what it holds is scrubbed as text) or a bare number.
_JSON_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?<![\w.+-])-?[0-9][0-9.eE+-]*(?![\w.])')
#: Header names (lower case) and query parameter names whose values are always shown redacted.
_hidden_headers: set[str] = set()
_hidden_query: set[str] = set()
#: The shortest header or query value from the config that is searched for in free text.
SETTING_MIN = 8
_factory_installed = False
_scrubber: tuple[frozenset[str], Any, Any, Any] | None = None
#: User info in a URL (``scheme://user:pass@``), shown redacted whatever it is.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@\\\"'<>]+@")
_SPACE = re.compile(r"\s")


class Secret:
    """Holds a key; its repr and str never show it. Use :meth:`reveal` only to build auth headers."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        remember(value)
        _keys.add(value)

    def reveal(self) -> str:
        """The key itself: only for the header sent to the configured provider."""
        return self._value

    def prefixed(self, text: str) -> Secret:
        """``text`` followed by the key, still a Secret: an auth header value such as ``Bearer sk-...``."""
        return Secret(text + self._value)

    def fingerprint(self) -> str:
        """A short, safe identification such as ``sk-...a1b2``."""
        value = self._value
        if len(value) < 12:
            return "..." + value[-2:] if len(value) > 6 else "***"
        prefix = value[:3] if re.match(r"^[A-Za-z]{2}-", value) else ""
        return f"{prefix}...{value[-4:]}"

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled into a crash dump or a worker's arguments
        raise TypeError("a Secret cannot be pickled")


def own(path: Any) -> None:
    """Register a path imagegate made itself (a file it wrote or will write, its folder, a rescue
    file): redaction shows it as it is, unless a key is in it. A config value that happens to be
    part of a path (``X-Team: design-team`` and an ``--out design-team/``) must never hide where a
    paid image went."""
    text = str(path)
    if text and not any(key in text for key in _keys):
        for form in {text, json.dumps(text)[1:-1]}:  # as written, and as it stands in JSON
            folder = form[: max(form.rfind("/"), form.rfind("\\")) + 1]
            if not folder:  # a bare name: imagegate registers absolute paths only
                continue
            paths, lengths = _own.setdefault(folder, (set(), set()))
            paths.add(form)
            lengths.add(len(form))


def remember(value: str) -> None:
    """Register a secret so :func:`redact` scrubs it (and its tail) from any text."""
    if value and len(value) >= 4:
        _known.add(value)
        _install_log_redaction()


def remember_number(value: float) -> None:
    """Register a secret that is a number: its text is scrubbed, and where it stands as a JSON
    number it becomes the string ``"***redacted***"``, so a JSON document stays valid JSON."""
    for text in {str(value), repr(value)}:
        if len(text) >= 8:  # a shorter number (1024) is a size or a count everywhere else
            _numbers.add(text)
            remember(text)


def remember_setting(value: Any) -> None:
    """Register a config value that may be a credential (a header or query value).

    Only strings of :data:`SETTING_MIN` characters or more are searched for in free text (a short
    value such as ``true`` would blank ordinary words); every such value is still hidden by name
    wherever its header or query parameter is shown (:func:`hide_header`, :func:`hide_query`).
    """
    if isinstance(value, str) and len(value) >= SETTING_MIN:
        remember(value)


def hide_header(name: str) -> None:
    """Show header ``name`` (any case) as ``***redacted***`` wherever headers are shown."""
    _hidden_headers.add(name.lower())


def hide_query(name: str) -> None:
    """Show the value of query parameter ``name`` as ``***redacted***`` in any URL shown."""
    if name:
        _hidden_query.add(name)


def remember_url(url: Any) -> None:
    """Register what a URL may carry as a credential: its user name and password
    (``http://user:pass@host``), every query value (``?key=...``, hidden by name too) and its fragment.

    Any string without white space that has a query or (with a path) a fragment counts as a URL,
    so a relative path such as ``images/generations?key=...`` is covered too.
    """
    if not isinstance(url, str):
        return
    if "@" in url:
        _remember_user_info(url)
    if ("?" in url or "#" in url) and not _SPACE.search(url):
        rest, _, fragment = url.partition("#")  # split as urlsplit does: the fragment first
        for pair in re.split(r"[&;]", rest.partition("?")[2]):
            name, equals, value = pair.partition("=")
            if equals:
                hide_query(name)
            _remember_encoded(value if equals else name, remember_setting)
        if "/" in rest:  # ``#00ff00`` is a colour, not a URL
            _remember_encoded(fragment, remember_setting)


def _remember_user_info(url: str) -> None:
    """Register the user name and password of ``scheme://user:pass@host`` (or ``user:pass@host``)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        user, password = parts.username, parts.password
    except ValueError:
        return
    for value, register in ((user, remember_setting), (password, remember)):
        if value:
            _remember_encoded(value, register)


def _remember_encoded(value: str, register: Any) -> None:
    """``register`` a value from a URL as written and percent-decoded (``+`` as a space or not)."""
    from urllib.parse import unquote, unquote_plus

    for form in {value, unquote(value), unquote_plus(value)}:
        register(form)


def remember_environment_urls() -> None:
    """Register the user info and query values of the proxies the environment names (``HTTPS_PROXY=http://u:p@host``)."""
    for name, value in os.environ.items():
        if name.lower().endswith("_proxy"):
            remember_url(value)


def redact(text: str) -> str:
    """Replace every known secret, any 12 characters of one in a row, and its encoded forms, with a marker.

    The forms are how a key shows in a repr or in JSON (``\\n``, ``\\u0073``), and how a server
    may echo it: base64, hex, percent-encoded, HTML entities, reversed, any case, split by spaces
    or invisible characters. User info in any URL (``//user:pass@``) and the values of hidden
    query parameters are replaced too. The search is one regular expression per pass, compiled
    once per set of known secrets.
    """
    if not text:
        return text
    shielded = sorted(_own_paths_in(text), key=len, reverse=True) if _own else []
    for index, path in enumerate(shielded):  # imagegate's own paths are shown as they are
        text = text.replace(path, f"\x00{index}\x00")
    text = _redacted(text)
    for index, path in enumerate(shielded):
        text = text.replace(f"\x00{index}\x00", path)
    return text


def _own_paths_in(text: str) -> set[str]:
    """The registered paths of imagegate's own that ``text`` holds."""
    found: set[str] = set()
    for folder, (paths, lengths) in _own.items():
        start = text.find(folder)
        while start >= 0:
            found.update(piece for length in lengths if (piece := text[start : start + length]) in paths)
            start = text.find(folder, start + 1)
    return found


def _redacted(text: str) -> str:
    if "@" in text or _hidden_query:
        text = _structural(text)
    if not _known:
        return text
    if _numbers and any(number in text for number in _numbers):
        text = _JSON_TOKEN.sub(_quoted_number, text)
    raw, normalised, short = _scrubbing()
    text = scrub(text, raw)
    if (normalised or short) and NORMALISE.search(text):
        if normalised is not None:
            text = scrub_normalised(text, normalised)
        if short is not None:  # escaped, but not split by spaces: a few words could spell one
            text = scrub_normalised(text, short, spaces=True)
    return text


def _quoted_number(match: re.Match[str]) -> str:
    """A bare number that is a secret as the quoted marker; anything else unchanged."""
    token = match.group()
    return f'"{REDACTED}"' if token.lstrip("-") in _numbers or token in _numbers else token


def _structural(text: str) -> str:
    """URL user info and hidden query values replaced, whatever their value."""
    text = _USERINFO.sub(lambda match: match.group(1) + REDACTED + "@", text)
    for name in _hidden_query:
        text = re.sub(
            rf"([?&;]{re.escape(name)}=)[^&#\s\"'<>]+", lambda match: match.group(1) + REDACTED, text
        )
    return text


def _scrubbing() -> tuple[Scrubber, Scrubber | None, Scrubber | None]:
    """The patterns matching what :func:`redact` scrubs in the text, in its decoded view (secrets
    of :data:`WINDOW` characters or more) and in its decoded view keeping spaces (shorter ones),
    with the texts a match may run on into; compiled once per set of known secrets."""
    global _scrubber
    known = frozenset(_known)
    if _scrubber is None or _scrubber[0] != known:
        long_ones = frozenset(value for value in known if len(value) >= WINDOW)
        short_ones = known - long_ones
        _scrubber = (
            known,
            compile(known),
            compile(long_ones) if long_ones else None,
            compile(short_ones) if short_ones else None,
        )
    return _scrubber[1], _scrubber[2], _scrubber[3]


def redact_data(value: Any) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value (what a provider answered)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(key)): redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool) and str(value) in _numbers:
        return REDACTED
    return value


def redact_headers(headers: Mapping[str, str | Secret], secret_names: Collection[str] = ()) -> dict[str, str]:
    """Headers as they may be shown: credentials replaced by a marker, every other value redacted.

    ``secret_names`` (any case) are hidden as well as the headers in :data:`ALWAYS_SECRET`, every
    header the config sets (:func:`hide_header`) and every header whose value is a :class:`Secret`.
    """
    hidden = {name.lower() for name in secret_names} | ALWAYS_SECRET | _hidden_headers
    return {  # names too: a server may echo a key as a header's name
        redact(key): REDACTED if key.lower() in hidden or isinstance(value, Secret) else redact(value)
        for key, value in headers.items()
    }


def reveal_headers(headers: Mapping[str, str | Secret]) -> dict[str, str]:
    """The headers as sent: each :class:`Secret` value revealed. Only the sending code calls this."""
    return {key: value.reveal() if isinstance(value, Secret) else value for key, value in headers.items()}


def key_problem(value: str) -> str | None:
    """Why ``value`` cannot be an API key in an HTTP header (never quoting it), or None when it can.

    A header carries visible Latin-1 characters; a space, a line break or a control character
    in a key is a copy-and-paste slip that requests would refuse while quoting the key.
    """
    if not value:
        return "is empty"
    if any(char.isspace() for char in value):
        return "contains spaces or line breaks"
    if any(ord(char) > 255 for char in value):
        return "contains characters an HTTP header cannot carry (beyond Latin-1)"
    if not value.isprintable():
        return "contains control characters"
    return None


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Render a log record's message, traceback and stack with every known secret scrubbed."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: show its template rather than fail
        message = str(record.msg)
    from .untrusted import safe_lines  # no escape sequence or CR from a provider reaches a log

    record.msg, record.args = safe_lines(redact(message)), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = safe_lines(redact(record.exc_text))
    if record.stack_info:
        record.stack_info = safe_lines(redact(record.stack_info))
    return record


def guard_logs() -> None:
    """Make every log record of the process scrubbed and terminal-safe (see _install_log_redaction)."""
    _install_log_redaction()


def _install_log_redaction() -> None:
    """Make every log record of the process (urllib3's debug lines included) carry no known secret.

    A record factory sees each record once, whatever logger or handler it goes to, including
    handlers a caller configured before the key was read.
    """
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _factory_installed = True


class RedactingStream(io.TextIOBase):
    """A text stream that scrubs known secrets line by line before passing text on.

    Lines are held until complete (or flushed), so a key printed in pieces by ``print()`` (as
    http.client's debug output does) is still recognised.
    """

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._pending = ""
        self._lock = threading.Lock()
        #: Whether what reached the target ends inside a line: a write cut short (a signal while a
        #: slow reader blocked it) or a flushed piece. The next error line then starts afresh.
        self.mid_line = False

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
            if cut >= 0:
                ready, self._pending = self._pending[: cut + 1], self._pending[cut + 1 :]
                self._pass_on(ready)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self._pass_on(pending)
        self.target.flush()

    def _pass_on(self, text: str) -> None:
        self.mid_line = True  # until the write is done
        self.target.write(redact(text))
        self.mid_line = not text.endswith(("\n", "\r"))

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.target, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.target.fileno()


class _Closed(io.TextIOBase):
    """Stands for a standard stream the process was started without: every write fails (EBADF)."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def guarded_streams() -> Iterator[None]:
    """While active, everything written to sys.stdout and sys.stderr passes through :func:`redact`.

    This catches what logging cannot: libraries that ``print()`` (http.client with a debuglevel).
    """
    if isinstance(sys.stdout, RedactingStream):
        yield
        return
    saved = sys.stdout, sys.stderr
    with contextlib.ExitStack() as stack:
        # A process started with stdout or stderr closed has None there. Writing the result to a
        # missing stdout fails like writing to a closed one (the command then says so on stderr);
        # what goes to a missing stderr is lost.
        out: Any = saved[0] if saved[0] is not None else _Closed()
        err = (
            saved[1] if saved[1] is not None else stack.enter_context(open(os.devnull, "w", encoding="utf-8"))
        )
        sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
        try:
            yield
        finally:
            guards = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = saved
            for guard in guards:
                with contextlib.suppress(Exception):
                    guard.flush()
