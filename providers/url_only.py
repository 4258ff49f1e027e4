"""The ``url-only`` provider: gateways that answer with image links instead of base64.

It asks for ``response_format: "url"`` (unless the profile says otherwise) and the core
downloads each link at once, with a separate request that carries no credentials, because such
links expire within minutes to hours.
"""

from __future__ import annotations

from imagegate import hookimpl
from imagegate.adapter import BATCH
from imagegate.providers.compatible import CompatibleAdapter


class UrlOnlyAdapter(CompatibleAdapter):
    """An OpenAI-style provider whose answers carry ``data[].url``."""

    name = "url-only"
    description = "OpenAI-style providers that answer with image URLs (downloaded at once, without the key)"
    #: No batch engine: a batch's results are read hours later, when such links have expired.
    operations = CompatibleAdapter.operations - {BATCH}

    def response_format(self) -> str | None:
        return self.profile.settings.get("response_format", "url")


@hookimpl
def register_providers(register):
    register(UrlOnlyAdapter)
