"""The ``tiny`` provider: OpenAI's shape with the key in an ``X-Tiny-Key`` header."""

from __future__ import annotations

import imagegate
from imagegate.providers.openai import OpenAIAdapter


class TinyAdapter(OpenAIAdapter):
    name = "tiny"
    description = "A tiny test provider"
    operations = frozenset({"generate"})
    is_default = False
    default_base_url = "https://tiny.invalid/v1"
    default_model = "tiny-1"

    def auth_headers(self) -> dict[str, str]:
        return {"X-Tiny-Key": self.profile.api_key.reveal()} if self.profile.api_key else {}

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"X-Tiny-Key"})


@imagegate.hookimpl
def register_providers(register):
    register(TinyAdapter)
