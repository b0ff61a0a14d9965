"""The portal's exception tree and its exit codes.

Library code raises these; only the CLI turns them into a one-line message and
an exit code. Every message says what failed, where (file, row, tag), what was
expected and what was found, and what to do next.

Each exit code belongs to exactly one name here: an exception's ``exit_code``, or
one of the ``EXIT_*`` constants for the outcomes no exception carries. The table
in ``docs/cli.md`` lists them all; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

EXIT_OK = 0
"""The command did what it was asked."""

EXIT_USAGE = 2
"""The command line itself is wrong: an unknown command or option, a missing or bad value.

Set by the CLI for the usage errors of the argument parser; shared with ``ConfigError``,
whose fix is also in what the person typed or configured."""

EXIT_INTERRUPTED = 130
"""Stopped by Ctrl-C (SIGINT): 128 + 2, as shells report it. Set by the CLI."""


class PortalError(Exception):
    """Base of every error the portal raises on purpose. Raised as such by the CLI
    (``portal publish`` of a version that was never built, ``portal verdicts`` with no
    run yet) and by ``ingest.staging`` when a worker process dies; everything else
    raises one of the children. Plugins and team code never raise these.

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
    """Raised for an invalid ``params.yaml``, data card, ``challenge.yaml``, team folder,
    publishing address or option value, and for a challenge, card or team that is not
    where the portal looked: by ``config``, ``release.cards``, ``release.commitment``,
    ``release.versions``, ``reproduce.team``, ``reproduce.reproduction``, ``deid.keys``,
    ``publish.*``, ``site.build``, ``synth.export`` and the CLI."""

    exit_code = 2


class InputError(PortalError):
    """Raised when a challenge export, a staging folder, a release folder or another
    input file is unusable: by ``export.contract``, ``ingest.staging``, ``release.build``,
    ``release.manifest``, ``release.commitment``, ``reproduce.team`` and
    ``reproduce.reproduction``.

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
    """Raised when a command would overwrite something it must not replace silently: an
    existing output folder (``core.atomic``, ``synth.export``), a staging that would
    shrink (``ingest.staging``), a published version with other content
    (``release.build``; ``publish.target`` and ``publish.hub`` at a mirror)."""

    exit_code = 4


class VersionError(ConfigError):
    """Raised by ``release.versions`` and ``release.build`` when the version asked for
    breaks semantic versioning for data: not above the latest release, nothing changed
    since it, or a bump smaller than the changes require with no reason given. The fix
    is in ``params.yaml`` (``releases:``), hence a kind of ``ConfigError``."""

    exit_code = 7


class ToolMissingError(PortalError):
    """Raised when an external program the portal calls is absent: the Python that builds
    team environments (``reproduce.environments``), ``bwrap`` (``reproduce.sandbox``),
    Jupyter Book (``site.book``); in the tests, ``dciodvfy``."""

    exit_code = 5


class VerificationError(PortalError):
    """Raised when a check of the data fails: the independent verifier finds anything
    identifying (``ingest.staging``, ``release.build``, ``portal verify-deid``), or a
    release's files do not give its manifest or the expected content hash
    (``release.manifest``, ``release.build``, ``publish.publication``,
    ``reproduce.reproduction``, ``portal verify``). Nothing is released, published or run
    on it."""

    exit_code = 6


class BuildError(PortalError):
    """Raised when the public site or its reproduction book fails to build (mkdocs,
    Jupyter Book): by ``site.build`` and ``site.book`` only."""

    exit_code = 8


class NotReproducedError(PortalError):
    """Raised by ``portal reproduce --strict`` when a team's verdict is ``not reproduced``
    or ``failed``; the verdicts are written and logged first."""

    exit_code = 9


class PublishError(PortalError):
    """Raised by ``publish.target``, ``publish.s3`` and ``publish.hub`` when the target
    could not be written, or does not hold what was sent."""

    exit_code = 10


class PortInUseError(PortalError):
    """Raised by ``portal site serve`` (``site.build.make_server``) when the port it should
    listen on is taken."""

    exit_code = 11


class EnvironmentBuildError(PortalError):
    """Raised by ``reproduce.environments`` when a team's pinned environment cannot be
    built (its requirements do not install). ``reproduce.reproduction`` turns it into
    that team's ``failed`` verdict, so it reaches the CLI only from the library API."""

    exit_code = 12
