"""``imagegate mcp``: start the MCP server on stdio (needs the optional extra ``imagegate[mcp]``)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from ..errors import UsageError
from .console import Parser, refuse_key_flags

#: The major version of the MCP SDK (PyPI ``mcp``) this server is built on; pyproject pins the same.
SDK_MAJOR = "2"
INSTALL_HINT = (
    "Install the MCP extra into imagegate's environment: pip install 'imagegate[mcp]' "
    "(from a clone: pip install -e '.[mcp]')"
)


def mcp_parser() -> argparse.ArgumentParser:
    from ..mcp_tools import INLINE_MODES

    parser = Parser(
        prog="imagegate mcp",
        description="Serve imagegate's tools (generate_image, edit_image, dry_run, list_providers, "
        "check_config) to an MCP client on stdin/stdout. The client's config names only this "
        "command: the key stays in imagegate's private config file.",
    )
    parser.add_argument(
        "--config", metavar="PATH", help="private config file, fixed at start-up (default: the standard one)"
    )
    parser.add_argument("--profile", metavar="NAME", help="profile used when a call names none")
    parser.add_argument(
        "--out-dir", metavar="DIR", help="folder the images are saved in (default: the current folder)"
    )
    parser.add_argument(
        "--inline-images",
        choices=INLINE_MODES,
        default="small",
        help="send images inline too: never, small (up to 1 MB and 2000 px a side; the default) or always",
    )
    return parser


def _require_sdk() -> None:
    """Refuse (exit 2) when the MCP SDK is missing, or of a major version this server was not built on."""
    from importlib import metadata

    if importlib.util.find_spec("mcp") is None:
        raise UsageError("imagegate mcp needs the MCP SDK, which is not installed", hints=(INSTALL_HINT,))
    try:
        version = metadata.version("mcp")
    except metadata.PackageNotFoundError:  # importable without an installed distribution: trust it
        return
    if version.split(".")[0] != SDK_MAJOR:
        raise UsageError(
            f"imagegate mcp is built on MCP SDK {SDK_MAJOR}.x, and {version} is installed",
            hints=(INSTALL_HINT,),
        )


def command(argv: list[str]) -> int:
    """Serve MCP on stdio until the client closes stdin."""
    refuse_key_flags(argv)
    args = mcp_parser().parse_args(argv)  # --help works without the extra
    _require_sdk()
    from ..config import resolve_path
    from ..mcp_server import serve
    from ..mcp_tools import Settings

    start = Path.cwd()
    out_dir = (start / Path(args.out_dir).expanduser()) if args.out_dir else start
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: not a folder")
    settings = Settings(
        config=(start / resolve_path(args.config)).absolute(),  # resolved once: clients may drop XDG_*
        out_dir=out_dir.resolve(),
        start_dir=start,
        profile=args.profile,
        inline=args.inline_images,
        config_given=args.config is not None,
    )
    return serve(settings)
