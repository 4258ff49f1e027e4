"""Price tables as data: what an image call costs, from token usage or from per-image prices.

A provider ships its table as a JSON file beside its adapter (the prices are its knowledge), with
the page the prices were read from and the date. The format, per model::

    {"source": "https://...", "date": "YYYY-MM-DD", "currency": "USD",
     "aliases": {"snapshot-name": "model"},
     "models": {"model": {
         "tokens_per_million": {"text_input": 5.0, "image_input": 10.0, "image_output": 40.0},
         "images": {"low": {"1024x1024": 0.011, ...}, "high": {...}}}}}

An estimate comes from the answer's token usage when the model has token prices and the answer
gave usage; else from the per-image price for the size and quality asked (``auto`` or no size or
quality: the dearest the table lists, so a budget is never under-counted). A model, size or
quality the table does not list has no estimate: never a guessed one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

#: The token kinds a table may price, in USD per million tokens.
TOKEN_KINDS = ("text_input", "image_input", "text_output", "image_output")


class PriceTable:
    """One provider's prices, read from its JSON document."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.source = str(document.get("source", ""))
        self.date = str(document.get("date", ""))
        self.currency = str(document.get("currency", "USD"))
        self.aliases: dict[str, str] = dict(document.get("aliases", {}))
        self.models: dict[str, Any] = dict(document.get("models", {}))

    @classmethod
    def load(cls, package: str, name: str) -> PriceTable:
        """The table in data file ``name`` of ``package`` (e.g. ``imagegate.providers``)."""
        return _load(package, name)

    def model(self, name: str) -> Mapping[str, Any] | None:
        entry = self.models.get(self.aliases.get(name, name))
        return entry if isinstance(entry, Mapping) else None

    def per_image(self, model: str, size: str | None, quality: str | None) -> float | None:
        """The price of one image; the dearest listed where ``size`` or ``quality`` is unset or ``auto``."""
        images = (self.model(model) or {}).get("images")
        if not isinstance(images, Mapping):
            return None
        qualities = list(images) if quality in (None, "auto") else [quality]
        prices: list[float] = []
        for name in qualities:
            by_size = images.get(name)
            if not isinstance(by_size, Mapping):
                return None
            sizes = list(by_size) if size in (None, "auto") else [size]
            for chosen in sizes:
                price = _price(by_size.get(chosen))
                if price is None:
                    return None
                prices.append(price)
        return max(prices) if prices else None

    def from_usage(self, model: str, usage: Mapping[str, Any] | None) -> float | None:
        """The cost of the tokens an answer reports, or None if the model has no token prices."""
        rates = (self.model(model) or {}).get("tokens_per_million")
        if not isinstance(rates, Mapping) or not isinstance(usage, Mapping):
            return None
        counts = _token_counts(usage)
        if counts is None:
            return None
        total = 0.0
        for kind, count in counts.items():
            if not count:
                continue
            rate = _price(rates.get(kind))
            if rate is None and kind == "text_output":
                rate = _price(rates.get("image_output"))
            if rate is None:
                return None
            total += count * rate / 1_000_000
        return total

    def estimate(
        self,
        model: str,
        *,
        size: str | None,
        quality: str | None,
        n: int | None,
        usage: Mapping[str, Any] | None = None,
    ) -> float | None:
        """From usage when given and priced, else the per-image price times ``n``; None if unknown."""
        if usage:
            cost = self.from_usage(model, usage)
            if cost is not None:
                return cost
        price = self.per_image(model, size, quality)
        return None if price is None else price * (n or 1)


@cache
def _load(package: str, name: str) -> PriceTable:
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return PriceTable(json.loads(text))


def _price(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _token_counts(usage: Mapping[str, Any]) -> dict[str, int] | None:
    """Tokens by kind from an OpenAI-style usage object; input without details is text."""
    if "input_tokens" not in usage and "output_tokens" not in usage:
        return None
    inputs, outputs = _count(usage.get("input_tokens")), _count(usage.get("output_tokens"))
    counts = dict.fromkeys(TOKEN_KINDS, 0)
    details = usage.get("input_tokens_details")
    if isinstance(details, Mapping):
        counts["image_input"] = _count(details.get("image_tokens"))
        counts["text_input"] = _count(details.get("text_tokens")) or max(0, inputs - counts["image_input"])
    else:
        counts["text_input"] = inputs
    details = usage.get("output_tokens_details")
    if isinstance(details, Mapping) and ("image_tokens" in details or "text_tokens" in details):
        counts["image_output"] = _count(details.get("image_tokens"))
        counts["text_output"] = _count(details.get("text_tokens"))
    else:
        counts["image_output"] = outputs
    return counts
