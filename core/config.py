"""Finds, reads, checks and validates the private config file, and picks one profile from it.

The API key is read from this file only: never from OPENAI_API_KEY, Codex's credentials or a
command-line flag.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .inputs import check_path
from .options import row
from .schema import load_schema, validate
from .secret import (
    Secret,
    hide_header,
    hide_query,
    key_problem,
    remember,
    remember_environment_urls,
    remember_number,
    remember_setting,
    remember_url,
)

APP_DIR = "gpt-image-2-apikey"
#: Keys every profile may carry; anything else belongs to the adapter's own schema.
COMMON_KEYS = frozenset(load_schema("config.schema.json")["$defs"]["profile"]["properties"])
#: A config file is small; anything larger is refused before it is read.
MAX_CONFIG_BYTES = 1024 * 1024
_OPEN_FLAGS = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
#: The words of a name: camelCase humps, runs of capitals, digits (``xApiKey2`` -> x, Api, Key, 2).
_NAME_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
#: Words that may follow a credential word in its name (``session_id``, ``api_key_v2``).
_NAME_QUALIFIER = re.compile(r"v|ids?|value|[0-9]+")
#: A word naming a credential, alone or run together (``apikey``, ``accesstoken``, ``passwords``);
#: a name is a credential's when any of its words, or two neighbours joined (``pass_word``), is one.
_CREDENTIAL_WORD = re.compile(
    r"(?:keys?|tokens?|secrets?|passwords?|passwd|pwds?|passphrases?|passcodes?|credentials?|creds?"
    r"|authorization|cookies?|sessions?|signatures?|bearer)(?:ids?)?$"
)
#: Short credential words that count only as a whole word (``pin`` but not ``spin``).
_SHORT_CREDENTIALS = frozenset({"pass", "pin", "otp", "jwt", "sig", "sas", "hmac"})
#: Words beside ``key`` that make it the name of a field, not a credential (``json_image_key``,
#: ``sort_key``, ``keyFrame``).
_FIELD_WORDS = frozenset(
    {"json", "field", "image", "object", "column", "sort", "dict", "map", "frame", "frames", "cache", "hot"}
)
#: What may stand before a credential word inside one word (``apikey``, ``accesstoken``); any other
#: start makes it another word (``monkey``, ``turkey``, ``hockey``).
_CREDENTIAL_PREFIXES = frozenset(
    {"", "api", "access", "private", "secret", "auth", "client", "refresh", "session", "bearer", "app",
     "master", "service", "signing", "pass", "user", "id", "x"}
)  # fmt: skip
#: Headers that describe the request or the app, never carry a credential: their values (such as
#: OpenRouter's app title ``X-Title``) are shown, and not taken for secrets in what imagegate prints.
DESCRIPTIVE_HEADERS = frozenset(
    {
        "x-title",
        "http-referer",
        "referer",
        "user-agent",
        "accept",
        "accept-language",
        "content-type",
        "api-version",
    }
)
#: Words that make ``token(s)`` a count, a limit or a setting (``max_tokens``, ``tokens_per_min``).
_COUNT_WORDS = frozenset(
    {"max", "min", "num", "count", "counts", "limit", "limits", "budget", "per", "usage", "total", "n"}
)


@dataclass
class Profile:
    """One resolved profile: provider, key, endpoint, model, and the adapter's own settings."""

    name: str | None
    provider: str | None  # None: the default provider (see plugins.default_provider)
    api_key: Secret | None
    base_url: str | None  # None: the adapter's default
    model: str | None  # None: the adapter's default
    extra_body: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    source: Path | None = None
    max_retry_wait: float = row("max_retry_wait").default  # the longest Retry-After honoured, seconds
    download_max_bytes: int = row("download_max_bytes").default  # the largest image fetched from a URL
    image_max_bytes: int = row("image_max_bytes").default  # the largest image in an answer, decoded
    answer_max_bytes: int = row("answer_max_bytes").default  # the largest answer or stream, decompressed

    @property
    def label(self) -> str:
        """Where this profile came from, for messages: ``config.json`` or ``config.json#proxy``."""
        where = str(self.source) if self.source else "(no config file)"
        return f"{where}#{self.name}" if self.name else where

    @property
    def json_prefix(self) -> tuple[str, ...]:
        """The JSON path of this profile inside its file, for validation messages."""
        return ("profiles", self.name) if self.name else ()


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/gpt-image-2-apikey/config.json``, else under ``~/.config``."""
    base = os.environ.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base.strip() else Path.home() / ".config"
    return root / APP_DIR / "config.json"


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: the one given, else the default (a name no file can have is refused)."""
    if not path:
        return default_path()
    check_path(path, "--config")
    return Path(path).expanduser()


def check_permissions(path: Path, info: os.stat_result | None = None) -> None:
    """Refuse, ssh-style, a config that others can read or that another user owns (not on Windows).

    ``info`` is the ``fstat`` of the descriptor the config is read from (else ``path`` is looked at).
    """
    info = info or path.stat()
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the read, or never end
        raise ConfigError(f"config {path} is not a regular file", hints=("Give the path of a JSON file.",))
    if sys.platform == "win32":
        return
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise ConfigError(
            f"config {path} is owned by another user; refusing to use a key others control",
            hints=(f"Copy it to a file you own and run: chmod 600 {path}",),
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        mode = oct(stat.S_IMODE(info.st_mode))[2:]
        access = "readable" if stat.S_IMODE(info.st_mode) & 0o044 else "accessible"
        raise ConfigError(
            f"config {path} is {access} by other users (mode {mode}); refusing to use its key",
            hints=(f"Fix it with: chmod 600 {path}",),
        )


def read_private(path: Path) -> str:
    """The text of the config file, read from the very descriptor whose owner, mode and type were checked.

    The file is opened once (without blocking, so a FIFO cannot hang the open) and checked with
    ``fstat``; nothing can swap the file between the check and the read.
    """
    flags = (
        os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    )
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        check_permissions(path, info)
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES} bytes; not a config file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than {MAX_CONFIG_BYTES} bytes; not a config file")
    return data.decode("utf-8")


def config_command(path: Path | None, words: str) -> str:
    """``imagegate config WORDS``, with ``--config PATH`` when the file is not the default one."""
    option = "" if path is None or path == default_path() else f" --config {shlex.quote(str(path))}"
    return f"imagegate config {words}{option}"


def init_hint(path: Path) -> str:
    """How to create the config file at ``path``."""
    return f"Create it in your own terminal with: {config_command(path, 'init')}"


def read_document(path: Path) -> dict[str, Any]:
    """Read and parse the config file, check its permissions and validate it against the schema."""
    try:
        text = read_private(path)
    except FileNotFoundError:
        raise ConfigError(f"no config file at {path}", hints=(init_hint(path),)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {os_reason(exc)}") from None
    try:
        document = json.loads(text)
        remember_secrets(document)
        if not isinstance(document, dict):
            raise ConfigError(f"invalid config {path}: (top level): must be a JSON object")
        validate(document, load_schema("config.schema.json"), str(path))
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise ConfigError(f"config {path} is nested too deeply to be a config file") from None
    return document


def select_profile(
    document: dict[str, Any], path: Path | None, profile: str | None, provider: str | None
) -> Profile:
    """Pick the profile (``--profile`` or the default) and fill in defaults."""
    if "profiles" in document:
        profiles = document["profiles"]
        name = profile or document.get("default_profile")
        if name is None:
            if len(profiles) != 1:
                raise ConfigError(
                    f"config {path} has several profiles and no default_profile",
                    hints=(f"Choose one with --profile ({', '.join(sorted(profiles))}).",),
                )
            name = next(iter(profiles))
        if name not in profiles:
            raise ConfigError(
                f"config {path} has no profile {_plain(name)}",
                hints=(f"Profiles in it: {', '.join(sorted(profiles))}.",),
            )
        raw = dict(profiles[name])
    else:
        if profile is not None:
            raise ConfigError(
                f"config {path} has no profiles, so --profile {_plain(profile)} cannot be used",
                hints=(
                    "Add it beside the current key with: "
                    + config_command(
                        path, "init --profile " + (profile if _plain(profile) != "(not shown)" else "NAME")
                    ),
                    "Or drop --profile.",
                ),
            )
        name, raw = None, dict(document)
    return _profile_from(raw, name, path, provider)


def load_profile(
    config: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    provider: str | None = None,
    *,
    required: bool = True,
) -> Profile:
    """Resolve the profile for one call. With ``required=False`` a missing file gives an empty profile."""
    path = resolve_path(config)
    remember_environment_urls()  # a proxy's password, should a proxy echo it
    if not required and config is None and profile is None and not path.exists():
        return _profile_from({}, None, None, provider)
    return select_profile(read_document(path), path, profile, provider)


def _profile_from(raw: dict[str, Any], name: str | None, path: Path | None, provider: str | None) -> Profile:
    key = raw.pop("api_key", None)
    problem = key_problem(key) if isinstance(key, str) and key else None
    if problem:
        where = f"{path}#{name}" if name else str(path)
        raise ConfigError(
            f"the api_key in config {where} {problem} (it is not shown)",
            hints=(
                "Store only the key itself, on one line: "
                + config_command(path, f"init{f' --profile {name}' if name else ''} --force"),
            ),
        )
    settings = dict(raw)
    return Profile(
        name=name,
        provider=provider or raw.get("provider"),
        api_key=Secret(key) if key else None,
        base_url=raw.get("base_url"),
        model=raw.get("model"),
        extra_body=dict(raw.get("extra_body") or {}),
        settings=settings,
        source=path,
        max_retry_wait=float(raw.get("max_retry_wait", row("max_retry_wait").default)),
        download_max_bytes=int(raw.get("download_max_bytes", row("download_max_bytes").default)),
        image_max_bytes=int(raw.get("image_max_bytes", row("image_max_bytes").default)),
        answer_max_bytes=int(raw.get("answer_max_bytes", row("answer_max_bytes").default)),
    )


def is_credential_name(name: str) -> bool:
    """Whether a config key names a credential: ``api_key``, ``apiKey``, ``apikey``, ``X-Api-Key``,
    ``clientSecret``, ``sessionId``, ``pass_phrase``, ``access_tokens``, ``api_key_b64``,
    ``secretKeyRef``... but not ``size``, ``auth_header``, ``max_tokens`` or ``json_image_key``.

    Any of its words, or two neighbouring words joined (``PassWord``), must be, or end with, a
    credential word; ``key`` beside a field word and ``token`` in a count's name do not count.
    """
    words = [word.lower() for word in _NAME_WORD.findall(_ascii(name))]
    if not _SHORT_CREDENTIALS.isdisjoint(words):
        return True
    counted = not _COUNT_WORDS.isdisjoint(words)
    for index, word in enumerate(words):
        neighbours = words[max(index - 1, 0) : index] + words[index + 1 : index + 2]
        for candidate in (word, "".join(words[index - 1 : index + 1]) if index else ""):
            found = _CREDENTIAL_WORD.search(candidate) if candidate else None
            if found is None:
                continue
            credential = found.group()
            if candidate[: found.start()] not in _CREDENTIAL_PREFIXES:
                continue
            if credential.startswith("key") and not _FIELD_WORDS.isdisjoint(neighbours):
                continue
            if credential.startswith("token") and counted:
                continue
            return True
    return False


def _plain(name: str) -> str:
    """A profile name as a message may repeat it: quoted when a plain word of at most 24 characters,
    else not shown (a key pasted into ``--profile`` stays unseen)."""
    return repr(name) if len(name) <= 24 and re.fullmatch(r"[\w.-]+", name, re.ASCII) else "(not shown)"


def _ascii(name: str) -> str:
    """A name in plain letters: accents dropped, full-width forms folded (``api_kéy`` -> ``api_key``)."""
    return "".join(char for char in unicodedata.normalize("NFKD", name) if not unicodedata.combining(char))


def _words(name: str) -> list[str]:
    """The words of a name, lowered, without a trailing ``id``, ``value``, version or number."""
    words = [word.lower() for word in _NAME_WORD.findall(name)]
    while len(words) > 1 and _NAME_QUALIFIER.fullmatch(words[-1]):
        words.pop()
    return words


def remember_secrets(document: Any, name: str = "", secret: bool = False) -> None:
    """Register every secret the config holds for redaction, before anything can echo one.

    Secrets are: every value under a key named like a credential (:func:`is_credential_name`;
    everything inside it when it holds an object or a list), every value of 8 characters or more
    under a key named ``auth`` (or ``*Auth``, ``oauth`` ...), every ``headers`` value (shown
    redacted by name too), every ``query`` value (its parameter shown redacted in URLs), and the
    user info, query values and fragment of every URL (``base_url``, ``paths``...).
    """
    secret = secret or is_credential_name(name)
    if isinstance(document, dict):
        for key, value in document.items():
            if key == "headers" and isinstance(value, dict):
                for header, text in value.items():
                    if str(header).lower() not in DESCRIPTIVE_HEADERS:
                        hide_header(str(header))
                        remember_setting(text)
            elif key == "query" and isinstance(value, dict):
                for parameter, text in value.items():
                    hide_query(str(parameter))
                    remember_setting(text)
            remember_secrets(value, str(key), secret)
    elif isinstance(document, list):
        for item in document:
            remember_secrets(item, name, secret)
    elif isinstance(document, (int, float)) and not isinstance(document, bool):
        if secret:  # a numeric PIN or key
            remember_number(document)
    elif isinstance(document, str):
        if secret:
            remember(document)
        elif any(word.endswith("auth") for word in _words(name)[-1:]):
            remember_setting(document)  # "auth": "bearer" names a scheme, a longer value is a credential
        remember_url(document)


def os_reason(exc: BaseException) -> str:
    """Why a file operation failed, in the system's words (``Permission denied``)."""
    return getattr(exc, "strerror", None) or type(exc).__name__
