"""The ``compatible`` provider: any OpenAI-style gateway, with its differences set in the config.

Keys: ``image_field`` (``image[]`` or ``image`` for every input image; by default ``image``
for one and ``image[]`` for several), ``auth_header``/``auth_scheme``
(``api-key`` with no scheme for Azure-style gateways), ``paths``, ``query``, ``headers``,
``drop_params``, ``response_format``, ``stream``, and ``edit_encoding`` (``multipart`` or ``json``)
with ``json_image_key`` (``image_url``, OpenAI's spec, or ``url``, xAI's).
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
        if operation in ("stream", "batch"):
            return operation in self.operations and bool(self.profile.settings.get(operation))
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

    def image_field(self, count: int = 1) -> str:
        return self.profile.settings.get("image_field") or super().image_field(count)

    def json_image_key(self) -> str:
        return self.profile.settings.get("json_image_key") or "image_url"

    def response_format(self) -> str | None:
        return self.profile.settings.get("response_format")

    def body(self, options: Options) -> dict[str, Any]:
        body = super().body(options)
        response_format = self.response_format()
        if response_format and "response_format" not in self.profile.extra_body:
            body["response_format"] = response_format
        for name in self.profile.settings.get("drop_params") or ():
            if name != "model":  # gateways substitute dall-e-2 without one
                body.pop(name, None)
        return body

    def check(self, options: Options) -> list[str]:
        warnings = super().check(options)
        if "model" in (self.profile.settings.get("drop_params") or ()):
            warnings.append("drop_params: model is always sent (gateways put in another model without it)")
        return warnings


@hookimpl
def register_providers(register):
    register(CompatibleAdapter)
