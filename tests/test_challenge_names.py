"""No stage is shaped around DaT-Park: its name, its classes and its gray zone live in its
files (data card, challenge.yaml, leaderboard, teams), not in the pipeline's code.

Outside ``portal/synth/`` (the synthetic DaT-Park export is DaT-Park's by design), a
mention may stand in an example (a docstring, a comment, a help text saying "e.g." or
"see"); in code it must be explained by a comment on its line or the line before.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

PORTAL = Path(__file__).resolve().parents[1] / "portal"
NAMES = re.compile(r"datpark|gray_zone|pathological", re.IGNORECASE)
EXAMPLE = re.compile(r"e\.g\.|example|see |synthesise|``", re.IGNORECASE)


def hits(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    commented = {n for n, line in enumerate(lines, start=1) if "#" in line}
    found = []
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if not NAMES.search(token.string):
            continue
        row = token.start[0]
        if token.type == tokenize.COMMENT:
            continue
        if token.type == tokenize.STRING and (
            token.string.lstrip("rfbuRFBU").startswith(('"""', "'''"))  # a docstring
            or EXAMPLE.search(token.string)
        ):
            continue
        if row in commented or row - 1 in commented:
            continue
        found.append(f"{path.name}:{row}: {lines[row - 1].strip()}")
    return found


def test_no_stage_names_datpark_its_classes_or_its_gray_zone():
    found = []
    for path in sorted(PORTAL.rglob("*.py")):
        if "synth" in path.relative_to(PORTAL).parts:
            continue
        found += [f"{path.parent.relative_to(PORTAL.parent)}/{hit}" for hit in hits(path)]
    assert not found, "challenge-specific names in the pipeline's code:\n" + "\n".join(found)


def test_the_check_sees_a_name_in_code(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('LABELS = ("normal", "pathological")\n\n# fine: a comment on datpark\n')
    assert len(hits(sample)) == 1
