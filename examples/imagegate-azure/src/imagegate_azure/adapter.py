"""The ``azure`` adapter: OpenAI's image API shape, with Azure's URLs, auth header and config keys.

Two URL forms: a dated ``api_version`` gives
``{endpoint}/openai/deployments/{deployment}/images/{generations|edits}?api-version=...``, where
the deployment in the URL chooses the model; ``v1`` gives ``{endpoint}/openai/v1/images/...`` with
the deployment as the body's ``model``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from imagegate import UsageError
from imagegate.adapter import EDIT, GENERATE, HttpRequest, ProviderError, with_query
from imagegate.options import Options
from imagegate.providers.openai import OpenAIAdapter

DEFAULT_API_VERSION = "2025-04-01-preview"
V1_VERSIONS = ("v1", "preview", "latest")
#: Error codes Azure uses for content-filter refusals (exit 4, never retried).
CONTENT_FILTER_CODES = frozenset({"content_policy_violation", "contentFilter", "content_filter"})


class AzureAdapter(OpenAIAdapter):
    """Azure OpenAI image deployments: ``api-key`` header (or Entra ID Bearer), ``image[]`` edits."""

    name = "azure"
    description = "Azure OpenAI image deployments (api-key or Entra ID token)"
    operations = frozenset({GENERATE, EDIT, "mask"})
    is_default = False
    default_base_url = ""
    default_model = ""
    leaves: ClassVar[dict[str, str]] = {GENERATE: "generations", EDIT: "edits"}

    schema_file = "azure.schema.json"
    schema_package = __package__ or "imagegate_azure"

    # -- where and how -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The resource endpoint, such as ``https://myres.openai.azure.com`` (no ``/openai`` suffix)."""
        settings = self.profile.settings
        root = settings.get("endpoint") or self.profile.base_url
        if not root:
            root = f"https://{settings['resource']}.openai.azure.com"
        root = root.rstrip("/")
        for suffix in ("/openai/v1", "/openai"):
            if root.endswith(suffix):
                return root[: -len(suffix)]
        return root

    def api_version(self) -> str:
        return self.profile.settings.get("api_version") or DEFAULT_API_VERSION

    def deployment(self, options: Options) -> str:
        """``--model`` or the profile's ``model`` names another deployment; else ``deployment``."""
        return options.model or self.profile.model or self.profile.settings["deployment"]

    def model_for(self, options: Options) -> str:
        return self.deployment(options)

    def endpoint(self, operation: str, deployment: str | None = None) -> str:
        """The URL of ``operation`` for ``deployment`` (default: the profile's)."""
        version, leaf = self.api_version(), self.leaves[operation]
        if version == "v1":
            return f"{self.base_url}/openai/v1/images/{leaf}"
        if version in V1_VERSIONS:
            return with_query(f"{self.base_url}/openai/v1/images/{leaf}", {"api-version": version})
        deployment = deployment or self.profile.settings["deployment"]
        path = f"/openai/deployments/{deployment}/images/{leaf}"
        return with_query(self.base_url + path, {"api-version": version})

    def uses_bearer(self) -> bool:
        return self.profile.settings.get("auth") == "bearer"

    def auth_headers(self) -> dict[str, str]:
        key = self.profile.api_key
        if key is None:
            return {}
        if self.uses_bearer():
            return {"Authorization": f"Bearer {key.reveal()}"}
        return {"api-key": key.reveal()}

    def secret_headers(self) -> frozenset[str]:
        return frozenset({"Authorization" if self.uses_bearer() else "api-key"})

    # -- what -------------------------------------------------------------------------------------
    def check(self, options: Options) -> list[str]:
        if options.output_format == "webp":
            raise UsageError(
                "Azure OpenAI image deployments do not produce webp",
                hints=("Use --format png or --format jpeg.",),
            )
        return super().check(options)

    def body(self, options: Options) -> dict[str, Any]:
        body = super().body(options)
        if self.api_version() not in V1_VERSIONS:
            body.pop("model", None)  # the deployment in the URL chooses the model
        return body

    def build_request(self, options: Options) -> HttpRequest:
        request = super().build_request(options)
        request.url = self.endpoint(options.operation, self.deployment(options))
        return request

    def parse_error(self, status: int, body: bytes) -> ProviderError:
        """OpenAI-style errors, with Azure's content-filter codes as content refusals."""
        error = super().parse_error(status, body)
        if status == 400 and {error.code, error.type} & CONTENT_FILTER_CODES:
            return replace(error, kind="content")
        return error
