"""What a call gives back: the saved images with their real facts, and what the provider said."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .sniff import ImageInfo
from .spool import Spool


@dataclass
class Image:
    """One image: where it was saved (if it was), its real format, size, alpha and byte count."""

    info: ImageInfo
    size: int
    path: Path | None = None
    _spool: Spool | None = field(default=None, repr=False)

    @property
    def format(self) -> str:
        return self.info.format

    @property
    def mime(self) -> str:
        return self.info.mime

    @property
    def width(self) -> int | None:
        return self.info.width

    @property
    def height(self) -> int | None:
        return self.info.height

    @property
    def alpha(self) -> bool | None:
        return self.info.alpha

    @property
    def data(self) -> bytes:
        """The image bytes (read from the file when it was saved to one)."""
        if self._spool is not None:
            return self._spool.getvalue()
        if self.path is None:
            raise ValueError("this image holds no data")
        return self.path.read_bytes()

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "format": self.info.format,
            "width": self.info.width,
            "height": self.info.height,
            "alpha": self.info.alpha,
            "bytes": self.size,
        }


@dataclass
class Result:
    """The outcome of one successful call."""

    images: list[Image]
    provider: str
    model: str
    usage: dict[str, Any] | None = None
    revised_prompt: str | None = None
    request_id: str | None = None
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    #: Partial previews saved by a streamed call (``NAME.partial-1.png`` ...).
    partials: list[Path] = field(default_factory=list)
    #: What the model said besides the image (answers of multimodal models), if anything.
    text: str | None = None
    #: What the call cost by the provider's price table (from its token usage when given); None: unknown.
    estimated_cost_usd: float | None = None

    @property
    def output_paths(self) -> list[Path]:
        return [image.path for image in self.images if image.path is not None]

    def note_missing_alpha(self, background: str | None) -> None:
        """Say so when a transparent background was asked for and an image has no alpha channel."""
        if background != "transparent":
            return
        for number, image in enumerate(self.images, 1):
            if image.info.alpha is False:
                name = image.path.name if image.path else f"image {number}"
                self.warnings.append(
                    f"{name} has no alpha channel although --background transparent was asked for"
                )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "output_paths": [str(path) for path in self.output_paths],
            "images": [image.to_json() for image in self.images],
            "provider": self.provider,
            "model": self.model,
            "usage": self.usage,
            "revised_prompt": self.revised_prompt,
            "request_id": self.request_id,
            "estimated_cost_usd": _cost(self.estimated_cost_usd),
            "seconds": round(self.seconds, 3),
            "warnings": self.warnings,
            **({"partial_paths": [str(path) for path in self.partials]} if self.partials else {}),
            **({"provider_extras": self.extras} if self.extras else {}),
            **({"text": self.text} if self.text else {}),
        }


@dataclass
class DryRun:
    """What would be sent, with the key redacted; nothing was sent."""

    provider: str
    model: str
    method: str
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    files: list[dict[str, str]]
    outputs: list[str]
    warnings: list[str] = field(default_factory=list)
    #: What the call would cost by the provider's price table; None: no estimate.
    estimated_cost_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True,
            "dry_run": True,
            "provider": self.provider,
            "model": self.model,
            "method": self.method,
            "url": self.url,
            "headers": self.headers,
            "body": self.body,
            "files": self.files,
            "output_paths": self.outputs,
            "estimated_cost_usd": _cost(self.estimated_cost_usd),
            "warnings": self.warnings,
        }


def _cost(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
