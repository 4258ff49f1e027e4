"""``imagegate config init|check|path``: set up, inspect and locate the private config file.

The key is read from a hidden prompt at a terminal, or from stdin when piped; never from an
argument, so it never lands in shell history, process lists or an agent's transcript.
"""

from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path
from typing import Any

from ..config import config_command, read_document, resolve_path, select_profile
from ..config_write import add_profile, render, write_private
from ..errors import ConfigError, ImagegateError, UsageError
from ..option_values import check
from ..options import Asked
from ..schema import first_error, load_schema
from ..secret import Secret, key_problem
from .console import Parser, emit, refuse_key_flags

_OWN_TERMINAL = (
    "Run `imagegate config init` in your own terminal and type or paste the key at its hidden prompt.",
    "Or pipe it in from a file only you can read: imagegate config init < keyfile",
)


def config_parser() -> argparse.ArgumentParser:
    """The parser of ``imagegate config`` and its three commands."""
    parser = Parser(prog="imagegate config", description="Set up and inspect the private config file.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{init,check,path}")
    init = commands.add_parser(
        "init",
        help="store a key in the config file (hidden prompt, or stdin when piped)",
        description="Store an image provider's key in the private config file. The key is read from "
        "a hidden prompt at a terminal, or from the first line of stdin when piped; never from an "
        "argument. The folder is created with mode 700 and the file written atomically with mode 600.",
    )
    init.add_argument("--profile", metavar="NAME", help="profile to add (default: the default profile)")
    init.add_argument("--provider", metavar="NAME", help="provider adapter (see: imagegate providers)")
    init.add_argument("--base-url", metavar="URL", help="API root such as https://host/v1")
    init.add_argument("--model", metavar="M", help="model name")
    init.add_argument(
        "--force",
        action="store_true",
        help="replace the key of an existing profile (its other settings are kept)",
    )
    check = commands.add_parser("check", help="validate the config file and show it with the key redacted")
    path = commands.add_parser("path", help="print the config file that would be used")
    path.add_argument("--json", action="store_true", help="print JSON for machines")
    for command in (init, check, path):
        command.add_argument("--config", metavar="PATH", help="config file (default: the standard one)")
    return parser


def command(argv: list[str]) -> int:
    """``imagegate config init|check|path``."""
    refuse_key_flags(argv)
    args = config_parser().parse_args(argv)
    return {"init": run_init, "check": run_check, "path": run_path}[args.command](args)


# -- init ----------------------------------------------------------------------------------------
def run_init(args: argparse.Namespace) -> int:
    from .. import plugins

    path = resolve_path(args.config)
    existing = _existing(path)
    given = {"provider": args.provider, "base_url": args.base_url, "model": args.model}
    fields: dict[str, Any] = {key: value for key, value in given.items() if value is not None}
    _check_fields(fields)
    # Everything that can be refused is refused before the key is asked for.
    document, name = add_profile(existing, args.profile, fields, force=args.force, source=path)
    stored = document["profiles"][name] if name else document
    provider = plugins.get_provider(stored.get("provider") or plugins.default_provider())
    if provider.adapter.needs_key:
        prompt = f"API key for {provider.name}" + (f" (profile {name})" if name else "")
        stored["api_key"] = read_key(prompt).reveal()

    def verify(temp: Path) -> None:
        _verify_profile(temp, name)  # refuses, before the file is replaced, what every run would refuse

    write_private(path, render(document), verify=verify)
    print(f"saved {'profile ' + repr(name) if name else 'the key'} in {path} (mode 600)", file=sys.stderr)
    print(f"next: {config_command(path, 'check')}", file=sys.stderr)
    described, _problems = describe_config(path)
    emit({"ok": True, "path": str(path), "profile": name, "created": existing is None, **described})
    return 0


def _existing(path: Path) -> dict[str, Any] | None:
    """The config already at ``path`` (None when there is none); a broken one must be fixed first."""
    if not path.exists():
        return None
    try:
        return read_document(path)
    except ConfigError as exc:
        hints = exc.hints or (f"Fix it, or move it aside and run imagegate config init again: {path}",)
        raise ConfigError(exc.message, hints=hints) from None


def read_key(prompt: str) -> Secret:
    """The key from a hidden prompt at a terminal, else from the first line of stdin."""
    stream = sys.stdin
    if stream is None:
        raise UsageError("no API key was given: there is no stdin", hints=_OWN_TERMINAL)
    try:
        if stream.isatty():
            import getpass

            text = getpass.getpass(f"{prompt} (input is hidden): ")
        else:
            text = stream.readline()
    except EOFError:
        text = ""
    key = Secret(text.strip())  # remembered for redaction before anything can echo it
    value = key.reveal()
    if not value:
        raise UsageError("no API key was given", hints=_OWN_TERMINAL)
    problem = key_problem(value)
    if problem:
        raise UsageError(
            f"the API key {problem} (it is not shown)", hints=("Give only the key itself, on one line.",)
        )
    return key


def _check_fields(fields: dict[str, Any]) -> None:
    """Refuse a bad --provider, --base-url or --model with the run-time schema, before asking for a key."""
    from .. import plugins

    if "provider" in fields:
        plugins.get_provider(fields["provider"])
    if _has_user_info(str(fields.get("base_url") or "")):
        raise UsageError(
            "--base-url: a user name or password in the URL is a secret, and imagegate never takes one "
            "on the command line (the value is not shown)",
            hints=("Add it to the private config file yourself, in base_url.",),
        )
    problem = first_error(fields, load_schema("config.schema.json"))
    if problem is not None:
        key, reason = problem.split(":", 1)
        if key == "base_url":
            reason = "must be an absolute URL such as https://api.example.com/v1 (the value is not shown)"
        raise UsageError(f"--{key.replace('_', '-')}: {reason.strip()}")


def _has_user_info(url: str) -> bool:
    """Whether a URL carries a user name or password (``https://user:pass@host``)."""
    authority = url.split("://", 1)[1].split("/", 1)[0] if "://" in url else ""
    return "@" in authority


def _verify_profile(path: Path, name: str | None) -> tuple[Any, Any]:
    """The checks every run makes before sending (schema, key, provider, endpoint, the profile's
    defaults such as size and timeout)."""
    from .. import plugins
    from ..addresses import check_endpoint

    adapter = plugins.bind(path, name)
    profile = adapter.profile
    transport = adapter.transport()
    check_endpoint(adapter.base_url, frozenset(transport.schemes if transport else ()))
    check(Asked(prompt="config check").resolved(profile.settings))
    return profile, adapter


# -- check ---------------------------------------------------------------------------------------
def run_check(args: argparse.Namespace) -> int:
    path = resolve_path(args.config)
    described, problems = describe_config(path)
    if problems:
        emit({"ok": False, "path": str(path), **described, "problems": [p.message for p in problems]})
        first = problems[0]
        raise ConfigError(first.message, hints=(*first.hints, *[p.message for p in problems[1:]]))
    emit({"ok": True, "path": str(path), **described})
    return 0


def describe_config(path: Path) -> tuple[dict[str, Any], list[ImagegateError]]:
    """A redacted description of the config file (each profile's provider, endpoint, model and key
    fingerprint) and the problems of single profiles. A file that cannot be used at all raises."""

    document = read_document(path)
    names: list[str | None] = list(document["profiles"]) if "profiles" in document else [None]
    warnings = _folder_warnings(path)
    problems: list[ImagegateError] = []
    default = None
    several_without_default = len(names) > 1 and document.get("default_profile") is None
    try:
        default = select_profile(document, path, None, None).name
    except ConfigError as exc:
        if several_without_default:
            warnings.append(f"{exc.message}: every run must choose one with --profile")
        elif document.get("default_profile") is not None and document["default_profile"] not in names:
            problems.append(exc)
        # any other problem belongs to one profile and is reported with it below
    profiles = []
    for name in names:
        row, problem = _describe(path, name, name == default)
        profiles.append(row)
        if problem is not None:
            problems.append(problem)
    described = {
        "mode": oct(stat.S_IMODE(path.stat().st_mode))[2:],
        "default_profile": default,
        "profiles": profiles,
        "warnings": warnings,
    }
    return described, problems


def _describe(path: Path, name: str | None, default: bool) -> tuple[dict[str, Any], ImagegateError | None]:
    row: dict[str, Any] = {"name": name, "default": default}
    try:
        profile, adapter = _verify_profile(path, name)
    except ImagegateError as exc:
        return {**row, "ok": False, "problem": exc.message}, exc
    return {
        **row,
        "ok": True,
        "provider": profile.provider,
        "base_url": adapter.base_url or None,
        "model": profile.model or adapter.default_model or None,
        "key": profile.api_key.fingerprint() if profile.api_key else None,
    }, None


def _folder_warnings(path: Path) -> list[str]:
    if sys.platform == "win32":
        return []
    folder = path.resolve().parent
    if stat.S_IMODE(folder.stat().st_mode) & 0o022:
        return [f"folder {folder} is writable by other users, who could swap the file: chmod 700 {folder}"]
    return []


# -- path ----------------------------------------------------------------------------------------
def run_path(args: argparse.Namespace) -> int:
    path = resolve_path(args.config)
    if args.json:
        emit({"ok": True, "path": str(path), "exists": path.exists()})
    else:
        print(path)
    return 0
