"""The ``compatible`` provider: any OpenAI-style gateway, with its differences set in the config.

Keys: ``image_field`` (``image[]`` or ``image`` repeated), ``auth_header``/``auth_scheme``
(``api-key`` with no scheme for Azure-style gateways), ``paths``, ``query``, ``headers``,
``drop_params``, ``response_format`` and ``stream``.
"""

from __future__ import annotations

from typing import Any

from imagegate import hookimpl
from imagegate.adapter import EDIT, GENERATE, with_query
from imagegate.options import Options
from imagegate.providers.openai import OpenAIAdapter
from imagegate.secret import Secret

_PATH_KEYS = {GENERATE: "generations", EDIT: "edits"}


class CompatibleAdapter(OpenAIAdapter):
    """An OpenAI-compatible endpoint whose quirks come from the profile."""

    name = "compatible"
    description = "Any OpenAI-compatible image endpoint or gateway (quirks set in the config)"
    is_default = False
    schema_file = "compatible.schema.json"

    def supports(self, operation: str) -> bool:
        if operation == "stream":
            return bool(self.profile.settings.get("stream"))
        return super().supports(operation)

    def endpoint(self, operation: str) -> str:
        override = (self.profile.settings.get("paths") or {}).get(_PATH_KEYS[operation])
        if override and "://" in override:
            url = override
        elif override:
            url = self.root_url() + "/" + override.lstrip("/")
        else:
            url = super().endpoint(operation)
        return with_query(url, self.profile.settings.get("query") or {})

    def auth_headers(self) -> dict[str, str | Secret]:
        settings = self.profile.settings
        headers = {key: value for key, value in super().auth_headers().items() if key != "Authorization"}
        headers.update(settings.get("headers") or {})
        key = self.profile.api_key
        if key:
            scheme = settings.get("auth_scheme", "Bearer")
            headers[self.auth_header_name()] = key.prefixed(f"{scheme} ") if scheme else key
        return headers

    def auth_header_name(self) -> str:
        return self.profile.settings.get("auth_header") or "Authorization"

    def secret_headers(self) -> frozenset[str]:
        return frozenset({self.auth_header_name()})

    def image_field(self) -> str:
        return self.profile.settings.get("image_field") or "image[]"

    def response_format(self) -> str | None:
        return self.profile.settings.get("response_format")

    def body(self, options: Options) -> dict[str, Any]:
        body = super().body(options)
        response_format = self.response_format()
        if response_format and "response_format" not in self.profile.extra_body:
            body["response_format"] = response_format
        for name in self.profile.settings.get("drop_params") or ():
            body.pop(name, None)
        return body


@hookimpl
def register_providers(register):
    register(CompatibleAdapter)
