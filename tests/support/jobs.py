"""An in-repo provider that answers later, for the tests of the poll loop (core/exchange.py).

The "Jobs API" is imaginary: ``POST {base}/jobs`` with an ``x-key`` header answers
``{"id", "polling_url"}``; ``GET polling_url`` (with the key) answers ``{"status": ...}`` until
``Ready`` brings ``result.b64`` or a signed ``result.sample`` URL (fetched without the key);
``Moderated`` is a content refusal, ``Error`` a failed job, ``Task not found`` an unknown id. With
the profile key ``cancel``, a stopped call sends ``DELETE {base}/jobs/{id}`` once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from imagegate.adapter import (
    GENERATE,
    POLL,
    Adapter,
    Answer,
    Headers,
    HttpRequest,
    ImageRef,
    Pending,
    ProviderError,
)
from imagegate.errors import ProviderFailure, UnusableAnswer
from imagegate.options import Options

#: What the Jobs API calls a job that is still running.
WAITING = ("Pending", "Queued", "Running")


class JobsAdapter(Adapter):
    name = "jobs"
    description = "An imaginary API that answers later (tests)"
    operations = frozenset({GENERATE, POLL})
    default_base_url = "https://jobs.example.test/v1"
    b64_fields = (("result", "b64"),)

    @classmethod
    def config_schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"poll_interval": {"type": "number"}, "cancel": {"type": "boolean"}},
        }

    def build_request(self, options: Options) -> HttpRequest:
        return HttpRequest("POST", f"{self.base_url}/jobs", self._key(), json={"prompt": options.prompt})

    def decode(self, document: Any, headers: Headers) -> Answer | Pending:
        if not isinstance(document, dict) or not isinstance(document.get("polling_url"), str):
            raise UnusableAnswer("the Jobs API answered without a polling_url")
        after = float(self.profile.settings.get("poll_interval", 0.01))
        poll = HttpRequest("GET", document["polling_url"], self._key())
        return Pending(poll, str(document.get("id")), after=after, status="Submitted")

    def poll(self, document: Any, headers: Headers, job: Pending) -> Answer | Pending:
        status = str(document.get("status")) if isinstance(document, dict) else "?"
        if status in WAITING:
            return replace(job, status=status)
        if status == "Ready":
            result = document.get("result") or {}
            return Answer([ImageRef(data=result.get("b64"), url=result.get("sample"))])
        if status == "Moderated":
            raise ProviderFailure(ProviderError(200, "the job was moderated", kind="content"))
        if status == "Task not found":
            raise ProviderFailure(ProviderError(404, "task not found", kind="not_found"))
        raise ProviderFailure(ProviderError(200, str(document.get("message") or status), kind="failed"))

    def cancel(self, job: Pending) -> HttpRequest | None:
        if not self.profile.settings.get("cancel"):
            return None
        return HttpRequest("DELETE", f"{self.base_url}/jobs/{job.job_id}", self._key())

    def _key(self) -> dict[str, Any]:
        return {"x-key": self.profile.api_key} if self.profile.api_key else {}
