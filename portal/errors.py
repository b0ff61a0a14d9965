"""The portal's exception tree.

Library code raises these; only the CLI turns them into a one-line message and
an exit code. Every message says what failed, where (file, row, tag), what was
expected and what was found, and what to do next.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class PortalError(Exception):
    """Base of every error the portal raises on purpose.

    ``hint`` is the next step for the person at the keyboard; the CLI prints it
    after the message.
    """

    exit_code = 1

    def __init__(
        self, message: str, *, hint: str | None = None, problems: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = list(problems)

    def __str__(self) -> str:
        text = self.message
        if self.problems:
            text += "".join(f"\n  - {problem}" for problem in self.problems)
        if self.hint:
            text += f"\nFix: {self.hint}"
        return text


class ConfigError(PortalError):
    """Raised for an invalid ``params.yaml``, data card or command-line option."""

    exit_code = 2


class InputError(PortalError):
    """Raised when a challenge export or other input file is unusable.

    ``path`` names the file; ``problems`` lists every problem found, so a
    person can fix them all in one pass instead of one per run.
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        problems: Iterable[str] = (),
        hint: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        text = f"{path}: {message}" if path is not None else message
        super().__init__(text, hint=hint, problems=problems)


class OutputExistsError(PortalError):
    """Raised when a command would overwrite something it must not replace silently."""

    exit_code = 4


class ToolMissingError(PortalError):
    """Raised when an external program the portal calls (e.g. ``dciodvfy``) is absent."""

    exit_code = 5


class VerificationError(PortalError):
    """Raised when the independent verifier finds anything identifying: no release happens."""

    exit_code = 6


class BuildError(PortalError):
    """A team's environment could not be built."""

    exit_code = 8
