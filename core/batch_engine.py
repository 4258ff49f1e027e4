"""The batch-engine part of the adapter contract: what an adapter implements for ``batch --remote``.

Only adapters that list ``batch`` in ``operations`` implement these: the core (``remote.py``)
uploads the files a job needs, writes the input lines, creates a batch per group, polls it,
reads its result files line by line and cancels it, always through these requests and records,
so it never names a provider. :class:`~imagegate.adapter.Adapter` inherits :class:`BatchEngine`,
and every name here is re-exported from ``imagegate.adapter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .adapter import Answer, HttpRequest, ProviderError
    from .options import Options

__all__ = ["UPLOAD_IMAGE", "UPLOAD_LINES", "BatchEngine", "BatchLine", "BatchState", "LineResult"]

#: Why a file is uploaded: the input lines of a batch, or an image that lines refer to.
UPLOAD_LINES = "lines"
UPLOAD_IMAGE = "image"


@dataclass(frozen=True)
class BatchLine:
    """One job as a line of a batch input file; lines of different ``group`` go to different batches."""

    group: str  # adapter-chosen (endpoint and model, say); given back to submit_batch
    line: dict[str, Any]


@dataclass(frozen=True)
class BatchState:
    """What the provider says of one batch: its word for the state, counts, and once done its files."""

    job_id: str
    status: str  # the provider's word ("validating", "in_progress", "completed", "expired"...)
    done: bool  # the batch will change no more: its result files can be read
    counts: dict[str, int] = field(default_factory=dict)  # total / completed / failed
    results: tuple[HttpRequest, ...] = ()  # downloads of its result files (read line by line)
    problem: str | None = None  # why the whole batch failed (a refused input file), if it did


@dataclass(frozen=True)
class LineResult:
    """One line of a result file: the job's answer, its error, or why it never ran."""

    custom_id: str
    answer: Answer | None = None
    error: ProviderError | None = None
    not_run: str | None = None  # it never ran (the batch expired or was cancelled): not billed


class BatchEngine:
    """The methods of the provider's batch engine; the defaults refuse (no batch engine)."""

    #: Patterns of the base64 images inside one line of a result file.
    batch_b64_fields: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: The most lines, and bytes, one batch input file may hold.
    batch_max_lines: ClassVar[int] = 0
    batch_max_bytes: ClassVar[int] = 0

    def batch_uploads(self, options: Options) -> list[Path]:
        """The local files a job's line refers to, uploaded first (once each, however many jobs use them).

        Raise UsageError for a job the batch engine cannot take, before anything is sent.
        """
        return []

    def upload_request(self, path: Path, purpose: str) -> HttpRequest:
        """The upload of ``path`` (UPLOAD_LINES or UPLOAD_IMAGE); :meth:`uploaded` reads the answer."""
        raise NotImplementedError

    def uploaded(self, document: Any) -> str:
        """The provider's id of an uploaded file, from the upload's JSON answer."""
        raise NotImplementedError

    def batch_line(self, options: Options, custom_id: str, files: Mapping[Path, str]) -> BatchLine:
        """The job as one input line; ``files`` maps each of :meth:`batch_uploads` to its file id."""
        raise NotImplementedError

    def submit_batch(self, file_id: str, group: str) -> HttpRequest:
        """Create a batch of the uploaded input file (the paid step, never repeated)."""
        raise NotImplementedError

    def poll_batch(self, job_id: str) -> HttpRequest:
        """Ask for a batch's state (repeating it bills nothing); :meth:`batch_state` reads the answer."""
        raise NotImplementedError

    def cancel_batch(self, job_id: str) -> HttpRequest:
        """Ask the provider to stop a batch; its finished lines stay in its result files."""
        raise NotImplementedError

    def batch_state(self, document: Any) -> BatchState:
        """A batch's state from the answer to submit_batch, poll_batch or cancel_batch."""
        raise NotImplementedError

    def batch_result(self, document: Any) -> LineResult:
        """One line of a result file (images already spooled at :attr:`batch_b64_fields`)."""
        raise NotImplementedError
