"""The OpenAI Batch API for images: Files uploads, batches, result files (half price, 24-hour window).

Each job is one line ``{"custom_id", "method": "POST", "url": "/v1/images/...", "body"}`` whose
body is the JSON the normal call sends; edits use the JSON edit form, their input images uploaded
once to the Files API and referenced by ``file_id``. Generations and edits, and each model, go to
batches of their own. Result lines carry the image inline at ``response.body.data[i].b64_json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from imagegate.adapter import (
    EDIT,
    UPLOAD_LINES,
    BatchLine,
    BatchState,
    FilePart,
    HttpRequest,
    LineResult,
    ProviderError,
    decode_images_answer,
    str_or_none,
)
from imagegate.errors import UnusableAnswer, UsageError
from imagegate.options import Options

MB = 1000 * 1000
#: The batch states after which a batch changes no more.
FINAL_STATES = frozenset({"completed", "expired", "cancelled", "failed"})
#: Error codes of lines that never ran because the batch ended first (not billed).
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})
#: The models whose edits take the JSON edit form (file_id references); DALL-E edits need multipart.
JSON_EDIT_PREFIXES = ("gpt-image-", "chatgpt-image-")
#: Upload purposes: batch input lines, and images that JSON edits refer to.
PURPOSES = {UPLOAD_LINES: "batch"}
IMAGE_PURPOSE = "vision"


class BatchProtocol:
    """The batch engine of :class:`~imagegate.providers.openai.OpenAIAdapter` (mixed into it)."""

    batch_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = (("response", "body", "data", "*", "b64_json"),)
    batch_max_lines: ClassVar[int] = 50_000
    batch_max_bytes: ClassVar[int] = 190 * MB  # the documented limit is 200 MB; a margin for headers
    # what the adapter it is mixed into provides
    paths: ClassVar[dict[str, str]]
    root_url: Any
    auth_headers: Any
    secret_headers: Any
    body: Any
    model_for: Any
    parse_error: Any

    def _request(self, method: str, path: str) -> HttpRequest:
        return HttpRequest(
            method, self.root_url() + path, self.auth_headers(), secret_headers=self.secret_headers()
        )

    def batch_uploads(self, options: Options) -> list[Path]:
        if options.operation != EDIT:
            return []
        model = self.model_for(options)
        if not model.startswith(JSON_EDIT_PREFIXES):
            raise UsageError(
                f"{model} edits cannot run on the batch engine: batch edits use the JSON edit form, "
                "which only the GPT image models take",
                hints=("Drop --remote for these jobs, or use a GPT image model (gpt-image-2).",),
            )
        return [*options.images, *([options.mask] if options.mask is not None else [])]

    def upload_request(self, path: Path, purpose: str) -> HttpRequest:
        request = self._request("POST", "/files")
        request.form = [("purpose", PURPOSES.get(purpose, IMAGE_PURPOSE))]
        kind = "application/jsonl" if purpose == UPLOAD_LINES else FilePart.of("file", path).content_type
        request.files = [FilePart("file", Path(path), kind)]
        return request

    def uploaded(self, document: Any) -> str:
        file_id = document.get("id") if isinstance(document, dict) else None
        if not isinstance(file_id, str) or not file_id:
            raise UnusableAnswer("the Files API answered without a file id")
        return file_id

    def batch_line(self, options: Options, custom_id: str, files: Any) -> BatchLine:
        body = {key: value for key, value in self.body(options).items() if value is not None}
        if options.operation == EDIT:
            body["images"] = [{"file_id": files[path]} for path in options.images]
            if options.mask is not None:
                body["mask"] = {"file_id": files[options.mask]}
        url = "/v1" + self.paths[options.operation]
        line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
        return BatchLine(f"{url} {body.get('model', '')}", line)

    def submit_batch(self, file_id: str, group: str) -> HttpRequest:
        request = self._request("POST", "/batches")
        endpoint = group.split(" ", 1)[0]
        request.json = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h"}
        return request

    def poll_batch(self, job_id: str) -> HttpRequest:
        return self._request("GET", f"/batches/{job_id}")

    def cancel_batch(self, job_id: str) -> HttpRequest:
        return self._request("POST", f"/batches/{job_id}/cancel")

    def batch_state(self, document: Any) -> BatchState:
        if not isinstance(document, dict) or not isinstance(document.get("id"), str):
            raise UnusableAnswer("the Batch API answered without a batch id")
        status = str(document.get("status") or "unknown")
        given = document.get("request_counts")
        counts: dict[str, Any] = given if isinstance(given, dict) else {}
        counts = {
            key: int(counts[key]) for key in ("total", "completed", "failed") if _count(counts.get(key))
        }
        files = [document.get(key) for key in ("output_file_id", "error_file_id")]
        results = tuple(
            self._request("GET", f"/files/{f}/content") for f in files if isinstance(f, str) and f
        )
        return BatchState(document["id"], status, status in FINAL_STATES, counts, results, _problem(document))

    def batch_result(self, document: Any) -> LineResult:
        if not isinstance(document, dict) or not isinstance(document.get("custom_id"), str):
            raise UnusableAnswer("a result line has no custom_id")
        custom_id = document["custom_id"]
        response = document.get("response")
        error = document.get("error")
        if not isinstance(response, dict):
            fields = error if isinstance(error, dict) else {}
            code = str_or_none(fields.get("code"))
            message = str(fields.get("message") or "the batch reported no answer for it")
            if code in NOT_RUN_CODES:
                return LineResult(custom_id, not_run=f"{message} ({code}; not billed)")
            return LineResult(custom_id, error=ProviderError(200, message, code=code, kind="failed"))
        status = response.get("status_code")
        body = response.get("body")
        if status != 200:
            return LineResult(custom_id, error=_line_error(self, status, body))
        return LineResult(custom_id, answer=decode_images_answer(body))


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(document: dict[str, Any]) -> str | None:
    """Why a failed batch failed: the first of its ``errors.data`` (a refused input file)."""
    if document.get("status") != "failed":
        return None
    errors = document.get("errors")
    data = errors.get("data") if isinstance(errors, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    where = f" (line {first['line']})" if isinstance(first.get("line"), int) else ""
    return str(first.get("message") or "the provider refused the batch") + where


def _line_error(adapter: Any, status: Any, body: Any) -> ProviderError:
    """The error of a line answered with a non-200 status, as the normal call's error answer reads."""
    import json

    code = status if isinstance(status, int) and not isinstance(status, bool) else 500
    return adapter.parse_error(code, json.dumps(body).encode())
