"""Portable numerics: the same bytes whatever the machine's kernels, an opt-out with a
reason, a hardware check that sees a team sensitive to them, and the machine recorded.

The PyTorch fixture team trains a tiny convolutional network in float32 on seeded noise
shaped by each exam's striatal binding ratio, and writes its scores with nine significant
digits: AVX-512, AVX2 and baseline kernels sum in different orders, so its prediction
bytes change with the kernel level (checked on this machine by the opt-out test).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from portal.errors import ConfigError
from portal.reproduce import numerics
from portal.reproduce.reproduction import Reproduction
from portal.reproduce.sandbox import namespaces_available
from portal.reproduce.team import load_team
from tests.conftest import challenge_project
from tests.fixture_teams import set_official, write_team

TORCH_REQUIREMENTS = """\
filelock==4.2.11
fsspec==2026.9.0
Jinja2==3.1.6
MarkupSafe==3.0.4
mpmath==1.3.0
networkx==3.6.1
numpy==2.4.6
setuptools==84.2.1
sympy==1.14.0
torch==2.13.0
typing_extensions==4.16.0
"""

TORCH_TEAM = '''\
"""Fixture team: a tiny float32 CNN on seeded noise shaped by the putamen SBR."""
import argparse, csv, hashlib, os

BEHAVIOUR = {behaviour!r}
if BEHAVIOUR == "greedy":  # asks for the machine's best kernels before importing torch
    os.environ["ATEN_CPU_CAPABILITY"] = "avx512"
    os.environ["OMP_NUM_THREADS"] = "2"
import torch

parser = argparse.ArgumentParser()
parser.add_argument("step")
for option in ("--release", "--model", "--split", "--out", "--seed"):
    parser.add_argument(option)
a = parser.parse_args()
if BEHAVIOUR == "rebel":  # switches oneDNN back on after the portal switched it off
    torch.backends.mkldnn.enabled = True


def table(name):
    with open(os.path.join(a.release, "metadata", name), newline="") as handle:
        return list(csv.DictReader(handle))


clinical = {{r["exam_id"]: r for r in table("clinical.csv")}}
split_of = {{r["exam_id"]: r["split"] for r in table("splits.csv")}}


def image(exam):
    row = clinical[exam]
    sbr = min(float(row["sbr_putamen_right"]), float(row["sbr_putamen_left"]))
    seed = int(hashlib.sha256(exam.encode()).hexdigest()[:8], 16)
    x = torch.randn(1, 24, 24, generator=torch.Generator().manual_seed(seed))
    x[:, 8:16, 8:16] += sbr - 2.0
    return x


def net():
    torch.manual_seed(int(a.seed))
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 1),
    )


if a.step == "train":
    labels = {{r["exam_id"]: r["label"] for r in table("labels.csv")}}
    train = sorted(e for e in clinical if split_of[e] == "train" and labels.get(e))
    x = torch.stack([image(e) for e in train])
    y = torch.tensor([labels[e] == "pathological" for e in train], dtype=torch.float32)
    model = net()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        loss.backward()
        optimiser.step()
    os.makedirs(a.model, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(a.model, "net.pt"))
else:
    model = net()
    model.load_state_dict(torch.load(os.path.join(a.model, "net.pt")))
    exams = sorted(e for e in clinical if split_of[e] == a.split)
    with torch.no_grad():
        p = torch.sigmoid(model(torch.stack([image(e) for e in exams])).squeeze(1)).tolist()
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["exam_id", "score", "label"])
        for exam, value in zip(exams, p):
            out.writerow([exam, f"{{value:.9g}}", "pathological" if value >= 0.5 else "normal"])
'''

REASON = "the official score was computed with AVX-512 kernels"
needs_sandbox = pytest.mark.skipif(not namespaces_available(), reason="needs bubblewrap")


def write_torch_team(project: Path, team: str, behaviour: str, *, portable: bool = True):
    write_team(project, team, behaviour, requirements=TORCH_REQUIREMENTS)
    folder = project / "reproduce" / "datpark" / team
    (folder / "team.py").write_text(TORCH_TEAM.format(behaviour=behaviour))
    if not portable:
        algorithm = yaml.safe_load((folder / "algorithm.yaml").read_text())
        algorithm["numerics"] = {"portable": False, "reason": REASON}
        (folder / "algorithm.yaml").write_text(yaml.safe_dump(algorithm, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = challenge_project(tmp_path_factory.mktemp("numerics"), exams=40, seed=13)
    write_torch_team(root, "polite", "exact")
    write_torch_team(root, "greedy", "greedy")
    write_torch_team(root, "rebel", "rebel")
    write_torch_team(root, "native", "exact", portable=False)
    teams = ("polite", "greedy", "rebel", "native")
    set_official(root, {t: (0.75, 0.75) for t in teams})
    return root


@pytest.fixture
def env(project, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PORTAL_ENV_CACHE", str(project / ".portal-envs"))
    return project


@pytest.fixture(scope="module")
def portable_reference(project) -> dict[str, str]:
    """The polite team's prediction hashes under the portable setting, with the parent's
    kernel level unset: what every other run must match. Computed here, not by whichever
    test happens to run first (pytest-xdist gives each worker its own order)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("ATEN_CPU_CAPABILITY", raising=False)
        patch.setenv("PORTAL_ENV_CACHE", str(project / ".portal-envs"))
        outcome = Reproduction(project, "datpark").run("polite", repeat=False, hardware_check=False)
    assert outcome.verdict.verdict.value != "failed", outcome.verdict.reason
    return _predictions(outcome)


def _predictions(outcome, folder: str = "run") -> dict[str, str]:
    found = sorted((outcome.out / folder / "predictions").glob("*.csv"))
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in found}


# -- the setting, the opt-out, the machine ----------------------------------------------------
def test_portable_pins_kernels_and_native_keeps_only_threads():
    portable, native = numerics.pins("portable"), numerics.pins("native")
    assert portable["ATEN_CPU_CAPABILITY"] == "default"
    assert portable["MKL_CBWR"] == "COMPATIBLE" and portable["OPENBLAS_CORETYPE"] == "Nehalem"
    assert "ATEN_CPU_CAPABILITY" not in native and native["OMP_NUM_THREADS"] == "1"
    assert set(native) < set(portable)
    env = numerics.environment("native")
    assert env["PORTAL_NUMERICS"] == "native"
    assert env["PORTAL_NUMERICS_PINNED"].split(",") == sorted(native)
    assert numerics.other("portable") == "native" and numerics.other("native") == "portable"
    with pytest.raises(ValueError, match="not one of"):
        numerics.pins("fast")


def test_every_pin_is_documented():
    docs = (Path(__file__).parent.parent / "docs" / "reproduction.md").read_text()
    missing = [p.variable for p in numerics.PINS if f"`{p.variable}`" not in docs]
    assert not missing, f"docs/reproduction.md does not name {missing}"


def test_opting_out_needs_a_reason(tmp_path):
    write_team(tmp_path, "t", "exact")
    path = tmp_path / "reproduce" / "datpark" / "t" / "algorithm.yaml"
    algorithm = yaml.safe_load(path.read_text())
    algorithm["numerics"] = {"portable": False}
    path.write_text(yaml.safe_dump(algorithm))
    with pytest.raises(ConfigError) as error:
        load_team(path.parent)
    assert "numerics" in str(error.value.problems) and "reason" in str(error.value.problems)
    algorithm["numerics"] = {"portable": False, "reason": REASON}
    path.write_text(yaml.safe_dump(algorithm))
    assert load_team(path.parent).algorithm.numerics.reason == REASON
    assert load_team(path.parent).algorithm.numerics.portable is False


def test_the_host_fingerprint_names_the_cpu_and_its_kernel_flags():
    facts = numerics.host()
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert facts["cpu_model"] in cpuinfo
    flags = set(cpuinfo.split("flags", 1)[1].split("\n", 1)[0].split())
    assert set(facts["kernel_flags"]) <= flags
    assert ("avx2" in flags) == ("avx2" in facts["kernel_flags"])
    assert facts["isa_level"] == numerics.isa_level(flags)
    assert facts["usable_cpus"] >= 1 and facts["memory_gib"] > 0
    assert facts["kernel"] == os.uname().release
    assert numerics.isa_level({"sse4_1"}) == "x86-64"


def test_the_guard_report_is_read_from_the_log_and_kept_small(tmp_path):
    log = tmp_path / "step.log"
    big = json.dumps({"overridden": ["x" * 1000], "torch.cpu_capability": "AVX512"})
    log.write_text(
        f"noise\n{numerics.REPORT_MARK}{big}\n{numerics.REPORT_MARK}not json\n"
        + "y" * 100_000
        + "\n"
    )
    reports = numerics.read_reports(log)
    assert len(reports) == 1 and len(reports[0]["overridden"][0]) == 300
    assert numerics.overrides(reports, "portable") == ["x" * 300]
    assert numerics.overrides(reports, "native") == []


# -- the PyTorch fixture, in the sandbox ------------------------------------------------------
@needs_sandbox
@pytest.mark.parametrize("asked", [None, "default", "avx2"])
def test_portable_predictions_ignore_the_parents_kernel_level(
    env, monkeypatch, asked, portable_reference
):
    if asked is None:
        monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    else:
        monkeypatch.setenv("ATEN_CPU_CAPABILITY", asked)
    outcome = Reproduction(env, "datpark").run("polite", repeat=False, hardware_check=False)
    assert outcome.verdict.verdict.value != "failed", outcome.verdict.reason
    record = json.loads((outcome.out / "record.json").read_text())
    assert record["numerics"]["setting"] == "portable"
    assert record["numerics"]["probe"]["torch"]["cpu_capability"] == "DEFAULT"
    assert record["numerics"]["probe"]["torch"]["mkldnn_enabled"] is False
    train = record["numerics"]["reports"]["train"]
    assert train and train[0]["torch.cpu_capability"] == "DEFAULT"
    assert _predictions(outcome) == portable_reference


@needs_sandbox
def test_the_team_cannot_change_the_pin_before_importing_torch(env):
    polite = Reproduction(env, "datpark").run("polite", repeat=False, hardware_check=False)
    greedy = Reproduction(env, "datpark").run("greedy", repeat=False, hardware_check=False)
    assert greedy.verdict.verdict.value != "failed", greedy.verdict.reason
    assert _predictions(greedy) == _predictions(polite)
    record = json.loads((greedy.out / "record.json").read_text())
    restored = " ".join(record["numerics"]["reports"]["train"][0]["restored"])
    assert "ATEN_CPU_CAPABILITY='avx512'" in restored and "OMP_NUM_THREADS='2'" in restored


@needs_sandbox
def test_a_team_that_switches_a_pin_back_fails_and_is_told_to_opt_out(env):
    outcome = Reproduction(env, "datpark").run("rebel", repeat=False, hardware_check=False)
    verdict = outcome.verdict
    assert verdict.verdict.value == "failed"
    assert verdict.reason.startswith("train: the team's code overrode the portable numerical")
    assert "torch.mkldnn_enabled is True" in verdict.reason and "portable: false" in verdict.reason


@needs_sandbox
def test_the_hardware_check_sees_a_team_that_opted_out(env, portable_reference):
    outcome = Reproduction(env, "datpark").run("native", repeat=False)
    assert outcome.verdict.verdict.value != "failed", outcome.verdict.reason
    record = json.loads((outcome.out / "record.json").read_text())
    assert record["numerics"] == {**record["numerics"], "setting": "native", "reason": REASON}
    assert record["numerics"]["probe"]["torch"]["cpu_capability"] != "DEFAULT"
    check = record["hardware_check"]
    assert check["settings"] == {"run": "native", "check": "portable"}
    assert check["identical"] is False, "native and baseline kernels gave the same bytes"
    native, portable = check["predictions"]["native"], check["predictions"]["portable"]
    assert native != portable
    assert portable == portable_reference["private_test.csv"], "the check's portable run"
    low, high = check["band"]
    assert low <= high and check["spread"] == pytest.approx(high - low)
    assert "sensitive to hardware" in outcome.verdict.reason
    assert f"band [{low:.4f}, {high:.4f}]" in outcome.verdict.reason
    # the machine and the numerical configuration: record, verdict.json, MLflow
    assert record["hardware"]["cpu_model"] == numerics.host()["cpu_model"]
    verdict = json.loads((outcome.out / "verdict.json").read_text())
    assert verdict["numerics"] == "native" and verdict["hardware_sensitive"] is True
    assert verdict["numerics_reason"] == REASON
    metrics = json.loads((outcome.out.parent / "native.metrics.json").read_text())
    assert not any(key.startswith("hardware") for key in metrics), "machine-dependent"
    from portal.reproduce import tracking

    client, _ = tracking.client_for(env)
    run = client.get_run(outcome.run_id)
    assert run.data.params["numerics"] == "native"
    assert run.data.params["numerics.OMP_NUM_THREADS"] == "1"
    assert run.data.tags["hardware.cpu_model"] == record["hardware"]["cpu_model"]
    assert run.data.tags["numerics.opt_out_reason"] == REASON
    assert "torch 2.13.0" in run.data.tags["numerics.libraries"]
    assert run.data.tags["hardware.sensitive"] == "True"
    assert run.data.metrics["hardware_spread"] == pytest.approx(check["spread"])


@needs_sandbox
def test_the_verdicts_command_and_the_team_report_show_the_machine(env, monkeypatch):
    from portal.cli import app
    from portal.site.pages import SiteWriter, directory_writer
    from portal.site.sources import read_sources
    from portal.site.untrusted import inline

    if not (env / "runs" / "datpark" / "1.0.0" / "native" / "verdict.json").exists():
        Reproduction(env, "datpark").run("native", repeat=False)
    monkeypatch.chdir(env)
    shown = CliRunner().invoke(app, ["verdicts", "datpark", "--hardware"])
    assert shown.exit_code == 0, shown.output
    cpu = numerics.host()["cpu_model"]
    assert cpu[:20] in shown.output and "native" in shown.output
    root = Path(__file__).parent.parent
    shutil.copy(root / "params.yaml", env / "params.yaml")
    shutil.copytree(root / "data_cards", env / "data_cards", dirs_exist_ok=True)
    sources = read_sources(env)
    challenge = next(c for c in sources.challenges if c.id == "datpark")
    team = next(t for t in challenge.teams if t.team.id == "native")
    out = env / "pages"
    SiteWriter(sources, directory_writer(out), book=False).report(challenge, team)
    page = (out / "datpark" / "teams" / "native.md").read_text()
    assert "Numerical setting" in page and inline(REASON) in page
    assert inline(cpu) in page and "Hardware-noise band" in page and "**sensitive**" in page
    assert inline("OMP_NUM_THREADS=1") in page, "the pinned variables of the native setting"
    assert inline("ATEN_CPU_CAPABILITY") not in page, "the native setting pins no kernel level"
    assert inline("torch 2.13.0+cpu: CPU capability") in page
    leaderboard = env / "pages" / "datpark" / "leaderboard.md"
    SiteWriter(sources, directory_writer(out), book=False).leaderboard(challenge)
    row = next(
        line for line in leaderboard.read_text().splitlines() if inline("fixture-native") in line
    )
    assert "**sensitive** [" in row


def test_the_guard_keeps_a_pin_in_a_bare_process(tmp_path):
    """Without the sandbox: the guard alone restores a pin changed before an import."""
    (tmp_path / "numpy").mkdir()
    (tmp_path / "numpy" / "__init__.py").write_text(
        "import os\nSEEN = os.environ['OPENBLAS_CORETYPE']\n"
    )
    script = (
        "import os\nos.environ['OPENBLAS_CORETYPE'] = 'SkylakeX'\nimport numpy\nprint(numpy.SEEN)\n"
    )
    guard = Path(__file__).parent.parent / "portal" / "reproduce" / "in_sandbox"
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": f"{guard}:{tmp_path}",
            **numerics.environment("portable"),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "Nehalem"
    assert "OPENBLAS_CORETYPE='SkylakeX' (restored to 'Nehalem')" in done.stderr
