"""Does a re-run reproduce the official score? The portal's verdict, with its reasons.

- ``reproduced``: the reproduced score is within the challenge's tolerance of
  the official one;
- ``within noise``: outside the tolerance, but the official score lies inside
  the reproduced score's bootstrap 95 % CI;
- ``not reproduced``: neither;
- ``failed``: the run did not produce scorable predictions (crash, timeout,
  resource limit, network attempt); the reason says which.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

from portal.reproduce.metrics import Interval


class Verdict(StrEnum):
    """The one verdict vocabulary: the value is what MLflow tags, ``verdict.json``, the CLI
    and the site show; :attr:`slug` names its badge's CSS class on the site."""

    REPRODUCED = "reproduced"
    WITHIN_NOISE = "within noise"
    NOT_REPRODUCED = "not reproduced"
    FAILED = "failed"

    @property
    def slug(self) -> str:
        """``within noise`` -> ``within-noise``: the site's ``verdict-<slug>`` class."""
        return self.value.replace(" ", "-")

    @property
    def meaning(self) -> str:
        """What the verdict says, in words (the leaderboard's legend, ``portal verdicts``)."""
        return MEANINGS[self]


MEANINGS = {
    Verdict.REPRODUCED: "within the tolerance of the official score",
    Verdict.WITHIN_NOISE: "outside the tolerance but inside the bootstrap interval",
    Verdict.NOT_REPRODUCED: "outside both",
    Verdict.FAILED: "the code did not run to the end; the report says where",
}
#: Shown where a team has no finished run yet: not a verdict, but a state with its own badge.
NOT_RUN = "not yet run"
NOT_RUN_SLUG = "not-yet-run"


def verdict_slug(value: str | None) -> str:
    """The badge class part of a tag value: a verdict's slug, :data:`NOT_RUN_SLUG` for no run,
    ``unknown`` for anything else (an old or hand-edited tag)."""
    if value is None or value == NOT_RUN:
        return NOT_RUN_SLUG
    try:
        return Verdict(value).slug
    except ValueError:
        return "unknown"


@dataclass(frozen=True)
class VerdictRecord:
    verdict: Verdict
    official: float
    reproduced: float | None
    difference: float | None
    tolerance: float
    ci: tuple[float, float] | None
    reason: str

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict.value}


def decide(
    official: float, reproduced: Interval | None, tolerance: float, failure: str | None = None
) -> VerdictRecord:
    """The verdict for one run; ``failure`` (a reason) wins over any score."""
    if failure or reproduced is None:
        return VerdictRecord(
            Verdict.FAILED,
            official,
            None,
            None,
            tolerance,
            None,
            failure or "the run produced no predictions",
        )
    difference = reproduced.estimate - official
    ci = (reproduced.low, reproduced.high)
    if abs(difference) <= tolerance + 1e-12:
        verdict, reason = (
            Verdict.REPRODUCED,
            (
                f"|{reproduced.estimate:.4f} - {official:.4f}| = {abs(difference):.4f} "
                f"<= tolerance {tolerance}"
            ),
        )
    elif reproduced.contains(official):
        verdict, reason = (
            Verdict.WITHIN_NOISE,
            (
                f"difference {difference:+.4f} exceeds the tolerance {tolerance}, but the official "
                f"score lies in the 95% CI [{ci[0]:.4f}, {ci[1]:.4f}]"
            ),
        )
    else:
        verdict, reason = (
            Verdict.NOT_REPRODUCED,
            (
                f"difference {difference:+.4f} exceeds the tolerance {tolerance}, and the official "
                f"score lies outside the 95% CI [{ci[0]:.4f}, {ci[1]:.4f}]"
            ),
        )
    return VerdictRecord(verdict, official, reproduced.estimate, difference, tolerance, ci, reason)
