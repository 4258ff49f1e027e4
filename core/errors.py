"""The error taxonomy: one exception type per exit code, each carrying the message a user reads.

Errors are raised where the problem is known and turned into exit codes in one place, the CLI.
A layer that learns more on the way up adds a hint (:meth:`ImagegateError.add_hint`); it never
builds a new error or touches ``args``.

                                   exit
Exception
├── ImagegateError                    1  the base: a message and hints, never the key
│   ├── UsageError                    2  bad flag, option, input or output path; nothing was sent
│   │   ├── ConfigError               2  config file missing, unreadable, invalid or unsafe
│   │   └── output.OutputExists       2  an output file is there and --force was not given
│   ├── ProviderRefused               3  the provider refused the request (4xx)
│   │   └── ContentRefused            4  content policy or moderation
│   ├── NetworkError                  5  unreachable, timed out, or a 5xx
│   ├── UnusableAnswer                6  an answer that holds no usable image
│   └── ImageNotSaved                 7  a paid image could not be written where asked; rescued
└── ProviderFailure                      an adapter's report of a failed job, never shown as itself:
                                         http.verdict() turns it into one of the above
KeyboardInterrupt
└── Interrupted                130, 143  Ctrl-C or SIGTERM; hints name the paid images kept
Anything else is a bug: exit 1, shown through :func:`internal_error`.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from .secret import redact
from .untrusted import HINT_LIMIT, untrusted

if TYPE_CHECKING:
    from .adapter import ProviderError

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "STOP_SIGNALS",
    "ConfigError",
    "ContentRefused",
    "CutShort",
    "ImageNotSaved",
    "ImagegateError",
    "Interrupted",
    "NetworkError",
    "ProviderFailure",
    "ProviderRefused",
    "UnusableAnswer",
    "UsageError",
    "internal_error",
]


class ImagegateError(Exception):
    """Base class: a clear, user-facing message plus optional hints; never holds the API key."""

    exit_code = 1

    def __init__(self, message: str, *, hints: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hints = tuple(hints)

    # The message and hints are scrubbed of every known key whenever they are set, so neither a
    # library caller nor a crash reporter ever sees one, whatever text a provider echoed.
    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, text: str) -> None:
        self._message = untrusted(redact(text))  # a provider's text may drive a terminal: made inert
        self.args = (self._message,)

    @property
    def hints(self) -> tuple[str, ...]:
        return self._hints

    @hints.setter
    def hints(self, texts: tuple[str, ...] | list[str]) -> None:
        self._hints = tuple(untrusted(redact(text), HINT_LIMIT) for text in texts)

    def add_hint(self, text: str) -> None:
        """Append one hint (scrubbed of the key like every hint)."""
        self.hints = (*self.hints, text)

    def __str__(self) -> str:
        return self.message


class UsageError(ImagegateError):
    """Exit 2: a bad flag, option, input file or output path, found before anything is sent."""

    exit_code = 2


class ConfigError(UsageError):
    """Exit 2: the config file is missing, unreadable, invalid or unsafe."""


class ProviderRefused(ImagegateError):
    """Exit 3: the provider refused the request (a 4xx answer: auth, quota, bad parameter)."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hints: tuple[str, ...] | list[str] = (),
    ) -> None:
        super().__init__(message, hints=hints)
        self.status = status
        self.code = untrusted(redact(code), 200) if code else code


class ContentRefused(ProviderRefused):
    """Exit 4: the provider's content policy or moderation refused the prompt or image."""

    exit_code = 4


class NetworkError(ImagegateError):
    """Exit 5: the provider could not be reached, timed out, or answered with a 5xx."""

    exit_code = 5


class UnusableAnswer(ImagegateError):
    """Exit 6: the provider answered, but with something that holds no usable image."""

    exit_code = 6


class CutShort(UnusableAnswer):
    """Exit 6: the answer stopped before its end (the connection closed early).

    What arrived before the cut is sound, unlike a corrupt answer: a stream keeps its whole events.
    """


class ImageNotSaved(ImagegateError):
    """Exit 7: a paid image arrived but could not be written where asked; it was rescued elsewhere."""

    exit_code = 7


class ProviderFailure(Exception):
    """Raised by an adapter's ``decode`` or ``poll`` to report a provider-side outcome (a failed or
    moderated job); the core turns ``error`` into the user's error through ``http.verdict()``."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(error.message)
        self.error = error


#: The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: The exit code of a command stopped by SIGTERM (128 + SIGTERM).
EXIT_TERMINATED = 143
#: The signals that stop a call (Ctrl-C, and SIGTERM from a supervisor or an agent's timeout).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a call; ``hints`` name the paid images that were kept anyway.

    A KeyboardInterrupt, so code that stops on Ctrl-C stops on it too.
    """

    def __init__(
        self, message: str = "interrupted", *, exit_code: int = EXIT_INTERRUPTED, hints: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hints = tuple(hints)

    def add_hint(self, text: str) -> None:
        """Append one hint, as :meth:`ImagegateError.add_hint` does."""
        self.hints = (*self.hints, text)


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (a bug: please report it)",
    2: "usage, config or input problem; nothing was sent",
    3: "the provider refused the request (4xx: auth, quota, bad parameter)",
    4: "refused by the provider's content policy or moderation",
    5: "network failure, timeout or provider 5xx",
    6: "the provider answered something unusable (not JSON, no image, not an image)",
    7: "the image was paid for but could not be written where asked; it was saved elsewhere",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_TERMINATED: "stopped by SIGTERM",
}


def internal_error(error: BaseException) -> str:
    """The one line that names an unexpected exception (a bug), scrubbed of the key and inert."""
    return f"internal error: {type(error).__name__}: {untrusted(redact(str(error)))}"
