"""Writes the private config file: a profile merged into the document, then one atomic, private write.

The key is never world-readable, not even for a moment: the new content goes into a temporary file
created with mode 0600 beside the target, is checked there, and is then renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import APP_DIR, config_command, os_reason, select_profile
from .errors import ConfigError
from .spool import signals_held

#: The name a flat config's (one profile at the top level, as the
#: ``gpt-image-2-apikey`` script wrote it) only profile gets when a second profile is added.
FLAT_NAME = "default"


def add_profile(
    document: dict[str, Any] | None,
    name: str | None,
    fields: dict[str, Any],
    *,
    force: bool,
    source: Path,
) -> tuple[dict[str, Any], str | None]:
    """The document with ``fields`` stored as profile ``name``; other profiles are left as they are.

    ``name`` None means the profile a run uses by default. A flat config becomes the profiles form
    (its profile named ``default``, still the default) when a named profile is added. An existing
    profile is refused unless ``force``; with ``force`` its other settings are kept and only the
    given fields (the key, provider, base_url, model) are replaced. Returns the new document and
    the name of the profile written (None for the flat form).
    """
    if document is None:
        if name is None:
            return dict(fields), None
        return {"default_profile": name, "profiles": {name: dict(fields)}}, name
    if "profiles" not in document:
        if name is None:
            _refuse_existing(force, source, None)
            return {**document, **fields}, None
        document = {"default_profile": FLAT_NAME, "profiles": {FLAT_NAME: document}}
    profiles = dict(document["profiles"])
    target = name or select_profile(document, source, None, None).name
    assert target is not None  # the profiles form always names the profile it picks
    if target in profiles:
        _refuse_existing(force, source, target)
    head: dict[str, Any] = {}
    if "default_profile" not in document and len(profiles) == 1 and target not in profiles:
        head["default_profile"] = next(iter(profiles))  # what runs used so far stays the default
    profiles[target] = {**profiles.get(target, {}), **fields}
    return {**head, **document, "profiles": profiles}, target


def render(document: dict[str, Any]) -> str:
    """The file's text: indented JSON with a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_private(path: Path, text: str, verify: Callable[[Path], None] | None = None) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600, creating its folder with mode 0700.

    ``verify`` is called with the finished temporary file before it replaces ``path``; if it
    raises, the temporary file is removed and ``path`` is left untouched.
    """
    target = path.resolve() if path.is_symlink() else path  # keep a symlinked config a symlink
    folder = target.parent
    temp: Path | None = None
    try:
        make_private_folder(folder)
        with signals_held():  # the temp file is made and named before any interruption
            handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
            temp = Path(temp_name)
        _fill(handle, text)
        if verify is not None:
            _verify(verify, temp, path)
        os.replace(temp, target)
    except BaseException as exc:
        if temp is not None:
            with contextlib.suppress(OSError):
                temp.unlink()
        if isinstance(exc, OSError):
            raise ConfigError(f"cannot write config {path}: {os_reason(exc)}") from None
        raise
    _sync_folder(folder)


def make_private_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents) if missing, with mode 0700; never leave it open to others.

    An existing folder made for the config (``gpt-image-2-apikey``) that others can enter or
    write to is made 0700 again. Any other folder that others may write to (without the sticky
    bit that stops them replacing our file) is refused: they could swap the config for their own.
    """
    if not folder.is_dir():
        folder.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
            if sys.platform != "win32":
                os.chmod(folder, 0o700)  # mkdir's mode is reduced by the umask; set it exactly
    if sys.platform != "win32":
        _tighten(folder)


def _tighten(folder: Path) -> None:
    """Make the config's own folder private; refuse a folder others could replace the file in."""
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    ours = hasattr(os, "getuid") and info.st_uid == os.getuid()
    if folder.name == APP_DIR and ours and mode & 0o077:
        os.chmod(folder, 0o700)
        return
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise ConfigError(
            f"cannot write config into {folder}: other users can write to that folder "
            f"(mode {oct(mode)[2:]}) and could replace the file",
            hints=(f"Fix it with: chmod go-w {folder}, or choose another --config.",),
        )


def _fill(handle: int, text: str) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(handle, 0o600)  # mkstemp already uses 0600; make it exact whatever the umask
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())


def _verify(verify: Callable[[Path], None], temp: Path, path: Path) -> None:
    """Run the check on the temporary file; its messages name the real file, not the temporary one."""
    try:
        verify(temp)
    except ConfigError as exc:
        raise ConfigError(
            exc.message.replace(str(temp), str(path)),
            hints=tuple(hint.replace(str(temp), str(path)) for hint in exc.hints),
        ) from None


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (best effort; not every platform can open a folder)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _refuse_existing(force: bool, source: Path, name: str | None) -> None:
    if force:
        return
    which = f"a profile {name!r}" if name else "a key"
    option = f" --profile {name}" if name else ""
    raise ConfigError(
        f"config {source} already has {which}; not replacing it",
        hints=(
            f"To replace its key, run: {config_command(source, f'init{option} --force')}",
            f"To add another key beside it, run: {config_command(source, 'init --profile NAME')}",
        ),
    )
