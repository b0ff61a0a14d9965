"""The ``portal`` command line: parse options, call one library function, map the outcome.

No logic lives here. Domain errors (``PortalError``) become a one-line message
and an exit code; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer._click import exceptions as parse_errors  # Typer 0.29 vendors click here

from portal import __version__
from portal.errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    NotReproducedError,
    PortalError,
    VerificationError,
)

app = typer.Typer(
    name="portal",
    help="Open challenge portal: de-identify, release, reproduce and publish challenge data.",
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)
_state: dict = {"debug": False, "quiet": False, "project": Path(".")}


def project() -> Path:
    """The project root (``--project``, default the current folder): where the portal
    looks for params.yaml, data_cards/, reproduce/, raw/, data/, runs/ and site/."""
    return _state["project"]


def _version(value: bool) -> None:
    if value:
        console.print(f"portal {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    root: Annotated[
        Path,
        typer.Option(
            "--project",
            metavar="PATH",
            exists=True,
            file_okay=False,
            help="The project folder (params.yaml, data_cards/, reproduce/, raw/, data/); "
            "default the current folder.",
        ),
    ] = Path("."),
) -> None:
    _state["debug"] = debug
    _state["quiet"] = quiet
    _state["project"] = root


def progress_bar(description: str, total: int):
    """A Rich progress bar at a terminal; elsewhere (a DVC stage, CI) a plain line every
    few seconds (:class:`portal.core.console.Lines`); silent under --quiet."""
    if not errors.is_terminal:
        from portal.core.console import Lines

        return Lines(disable=_state["quiet"])
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=_state["quiet"],
        transient=False,
    )


@app.command()
def synth(
    challenge: Annotated[str, typer.Argument(help="Challenge to synthesise (datpark, mlkidcar).")],
    out: Annotated[
        Path | None, typer.Option(help="Export folder; default raw/<challenge>.")
    ] = None,
    exams: Annotated[int, typer.Option(help="Number of exams.", min=1)] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.", min=0)] = 0,
    shape: Annotated[str, typer.Option(help="ROWSxCOLSxSLICES of each volume.")] = "128x128x64",
    workers: Annotated[
        int | None, typer.Option(help="Processes; default all cores.", min=1)
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export.")] = False,
) -> None:
    """Write a realistic synthetic challenge export (DICOM, labels, splits, clinical data)."""
    from portal.config import parse_shape
    from portal.synth.export import synthesize

    target = out or project() / "raw" / challenge
    if challenge == "mlkidcar":  # tabular: --exams is the number of surgeries
        from portal.synth.mlkidcar.__main__ import report

        report(target, surgeries=exams, seed=seed, overwrite=overwrite, console=console)
        return
    volume_shape = parse_shape(shape)
    with progress_bar("synth", exams) as bar:
        task = bar.add_task(f"synth {challenge}", total=exams)
        summary = synthesize(
            challenge,
            target,
            exams=exams,
            seed=seed,
            shape=volume_shape,
            workers=workers,
            overwrite=overwrite,
            progress=lambda n: bar.advance(task, n),
        )
    table = Table(title=f"{challenge} export", show_header=False)
    table.add_row("exams / patients", f"{summary.exams} / {summary.patients}")
    table.add_row("labels", ", ".join(f"{k} {v}" for k, v in summary.label_counts.items()))
    table.add_row("splits", ", ".join(f"{k} {v}" for k, v in summary.split_counts.items()))
    # the synthetic DaT-Park cohort's own summary (portal/synth, beside the pipeline)
    table.add_row("gray zone", f"{summary.gray_zone} ({summary.gray_zone / summary.exams:.0%})")
    table.add_row("size", f"{summary.bytes_written / 1e6:.1f} MB")
    console.print(table)
    console.print(f"Export written to {summary.out}", soft_wrap=True, highlight=False)


@app.command()
def ingest(
    challenge: Annotated[str, typer.Argument(help="Challenge to ingest, e.g. datpark.")],
    export: Annotated[
        Path | None, typer.Option(help="Export folder; default raw/<challenge>.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Data folder; default data/<challenge>.")] = None,
    card: Annotated[
        Path | None, typer.Option(help="Data card; default data_cards/<challenge>.md.")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Processes; default all cores.", min=1)
    ] = None,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Replace the staging even with fewer than half of its exams.",
        ),
    ] = False,
) -> None:
    """Validate the export, de-identify it, verify the result independently, and stage it."""
    from portal.deid.keys import SECRETS_DIR, load_key
    from portal.ingest.modalities import modality
    from portal.release.cards import card_path, load_card

    meta = load_card(card or project() / card_path(challenge)).meta
    export_dir = export or project() / "raw" / challenge
    key = load_key(challenge, export=export_dir, directory=project() / SECRETS_DIR)
    with progress_bar("ingest", 0) as bar:
        task = bar.add_task(f"ingest {challenge}", total=None)
        summary = modality(meta.data_kind).ingest(
            challenge,
            export_dir,
            out or project() / "data" / challenge,
            card=meta,
            key=key,
            workers=workers,
            progress=lambda n: bar.advance(task, n),
            on_total=lambda n: bar.update(task, total=n),
            on_phase=lambda phase: bar.update(task, description=f"ingest {challenge}: {phase}"),
            allow_shrink=allow_shrink,
        )
    table = Table(title=f"{challenge} staging", show_header=False)
    for label, value in summary.rows:
        table.add_row(label, value)
    console.print(table)
    for note in summary.notes:  # quarantine groups: reason code, count, first files, fix
        console.print(note, soft_wrap=True, highlight=False)
    console.print(f"Staged in {summary.staging}", soft_wrap=True, highlight=False)


@app.command("verify-deid")
def verify_deid(
    folder: Annotated[Path, typer.Argument(help="De-identified folder (staging or release).")],
    against: Annotated[
        Path, typer.Option(help="The original export, source of identifying values.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
) -> None:
    """Check, independently of the de-identifier, that nothing identifying is left."""
    import json

    from portal.verify_deid.verifier import verify_folder

    report = verify_folder(folder, against)
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        for finding in report.findings[:50]:
            errors.print(
                f"{finding.file} {finding.tag_path}: {finding.kind}: {finding.evidence}",
                highlight=False,
                soft_wrap=True,
            )
        if report.findings:
            kinds = ", ".join(f"{kind} {count}" for kind, count in report.counts().items())
            errors.print(f"findings by kind: {kinds}", highlight=False, soft_wrap=True)
        state = "passed" if report.passed else f"FAILED: {len(report.findings)} finding(s)"
        console.print(f"verify-deid {state} ({report.files} files, {report.elements} elements)")
    if not report.passed:
        raise typer.Exit(VerificationError.exit_code)


@app.command()
def release(
    challenge: Annotated[str, typer.Argument(help="Challenge to release, e.g. datpark.")],
    version: Annotated[str, typer.Option(help="MAJOR.MINOR.PATCH, listed in params.yaml.")],
    params: Annotated[
        Path | None, typer.Option(help="Pipeline parameters; default params.yaml.")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Data folder; default data/<challenge>.")
    ] = None,
    export: Annotated[Path | None, typer.Option(help="Export to re-verify against.")] = None,
    card: Annotated[Path | None, typer.Option(help="Data card.")] = None,
) -> None:
    """Build an immutable, checksummed, citable release from the verified staging."""
    from portal.config import PARAMS_FILE, load_params
    from portal.deid.keys import SECRETS_DIR, load_key
    from portal.release.build import build_release
    from portal.release.cards import card_path, load_card

    spec = load_params(params or project() / PARAMS_FILE).release(challenge, version)
    folder = data or project() / "data" / challenge
    export = export or project() / "raw" / challenge
    loaded = load_card(card or project() / card_path(challenge))
    with progress_bar("release", 0) as bar:
        task = bar.add_task(f"release {challenge} {version}", total=None)
        summary = build_release(
            challenge,
            folder / "staging",
            folder / "releases",
            loaded,
            version=version,
            date=spec.date,
            notes=spec.notes,
            lower_bump_reason=spec.lower_bump_reason,
            export=export,
            key=load_key(challenge, export=export, directory=project() / SECRETS_DIR),
            progress=lambda n: bar.advance(task, n),
        )
    if summary.already_published:
        console.print(
            f"{challenge} {version} is already published with this content "
            f"({summary.content_hash}); nothing to do.",
            soft_wrap=True,
        )
        return
    table = Table(title=f"{challenge} {version}", show_header=False)
    table.add_row(summary.unit, ", ".join(f"{k} {v}" for k, v in summary.exams.items()))
    table.add_row("files", f"{summary.files} ({summary.bytes / 1e6:.1f} MB)")
    table.add_row("content hash", summary.content_hash)
    bump = summary.changes.get("required_bump")
    table.add_row(
        "changes",
        "first release"
        if not summary.changes.get("parent")
        else f"from {summary.changes['parent']}: {bump}",
    )
    console.print(table)
    console.print(f"Released in {summary.path}", soft_wrap=True, highlight=False)


@app.command()
def verify(
    release: Annotated[Path, typer.Argument(help="A release folder (or a downloaded copy).")],
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            help="The content hash (sha256:...) the site, CITATION.cff or DataCite give: "
            "only a match proves this is the published release.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check every file of a release against its manifest and its content hash: name every
    missing, extra, altered or linked file; with --expect, refuse any other release."""
    import json

    from portal.errors import VerificationError
    from portal.release.manifest import verify_release

    result = verify_release(release, expect=expect)
    if as_json:
        console.print_json(json.dumps(result.to_dict()))
    else:
        for finding in result.findings():
            errors.print(finding, highlight=False, soft_wrap=True, markup=False)
        if not result.ok:
            state = f"FAILED ({len(result.findings())} finding(s))"
        elif result.anchored:
            state = "ok, the published release"
        else:
            state = (
                "ok (self-consistent; pass --expect <the published hash> to prove it is "
                "the published release)"
            )
        console.print(
            f"verify {state}: {result.checked} files checked, content hash {result.content_hash}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if not result.ok:
        raise typer.Exit(VerificationError.exit_code)


@app.command()
def publish(
    challenge: Annotated[str, typer.Argument(help="Challenge, e.g. datpark.")],
    version: Annotated[str, typer.Option("--version", help="The release version, X.Y.Z.")],
    to: Annotated[
        str, typer.Option("--to", help="dir:///path, s3://bucket/prefix or hf://org/name.")
    ],
    endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--endpoint-url",
            help="An S3-compatible store's address (default: AWS_ENDPOINT_URL_S3/_URL).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Build and check the upload plan; send nothing.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option("--repair", help="Rewrite files a mirror of this same release got wrong."),
    ] = False,
    workers: Annotated[int, typer.Option(help="Parallel uploads.", min=1, max=64)] = 8,
    data: Annotated[
        Path | None, typer.Option(help="Data folder; default data/<challenge>.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan and result.")] = False,
) -> None:
    """Copy a verified release to a mirror, then check the mirror file by file."""
    from portal.publish.publication import publish as publish_release

    folder = data or project() / "data" / challenge
    release = folder / "releases" / version
    if not release.is_dir():
        raise PortalError(
            f"{release}: no such release.",
            hint=f"build it with `portal release {challenge} --version {version}` "
            "(or `dvc pull` it) first.",
        )
    plans = []
    with progress_bar("publish", 0) as bar:
        task = bar.add_task(f"publish {challenge} {version}", total=None)
        result = publish_release(
            release,
            to,
            dry_run=dry_run,
            repair=repair,
            endpoint_url=endpoint_url,
            workers=workers,
            progress=lambda n: bar.advance(task, n),
            plan_out=plans.append,
            log=folder / "publications.json",
        )
    if as_json:
        console.print_json(
            json.dumps({"plan": plans[0].to_dict() if plans else None, **result.to_dict()})
        )
        return
    plan = plans[0] if plans else None
    for note in plan.notes if plan else []:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if dry_run:
        console.print(
            f"dry run: {len(plan.upload)} file(s) to send "
            f"({sum(i.size for i in plan.upload) / 1e6:.1f} MB), {len(plan.present)} already "
            f"there, {len(plan.delete)} to remove, to {result.target}; nothing sent.",
            highlight=False,
            soft_wrap=True,
        )
        return
    state = "already published" if result.uploaded == 0 and result.deleted == 0 else "published"
    console.print(
        f"{state}: {challenge} {version} at {result.target}: {result.files} files "
        f"({result.bytes / 1e6:.1f} MB), {result.uploaded} sent, {result.skipped} already there; "
        f"content hash {result.content_hash} verified (computed from the files, checked at the "
        f"target) in {result.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )


#: Rich styles by verdict slug (``portal.reproduce.verdict.Verdict.slug``, the one vocabulary;
#: a test checks every verdict has one).
VERDICT_STYLE = {
    "reproduced": "green",
    "within-noise": "yellow",
    "not-reproduced": "red",
    "failed": "bold red",
}


def _verdict_table(rows: list[dict], title: str) -> Table:
    from portal.reproduce.verdict import verdict_slug

    table = Table(title=title)
    for column in ("release", "team", "official", "reproduced", "95% CI", "verdict", "same twice"):
        table.add_column(
            column, justify="right" if column in ("official", "reproduced") else "left"
        )
    for row in rows:
        ci = row.get("ci")
        verdict = row["verdict"]
        table.add_row(
            row["version"],
            row["team"],
            f"{row['official']:.4f}",
            "—" if row.get("reproduced") is None else f"{row['reproduced']:.4f}",
            "—" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
            f"[{VERDICT_STYLE.get(verdict_slug(verdict), '')}]{escape(str(verdict))}[/]",
            {True: "yes", False: "NO", None: "not checked"}[row.get("determinism")],
        )
    return table


def _print_wide(table: Table) -> None:
    """Tables stay readable in logs, where Rich would otherwise assume 80 columns."""
    (console if console.is_terminal else Console(width=132)).print(table)


@app.command()
def reproduce(
    challenge: Annotated[str, typer.Argument(help="Challenge, e.g. datpark.")],
    teams: Annotated[
        list[str] | None,
        typer.Argument(help="Team folders under reproduce/<challenge>/; all if none."),
    ] = None,
    release: Annotated[
        str | None, typer.Option("--release", help="Release version; default the latest.")
    ] = None,
    repeat: Annotated[
        bool, typer.Option(help="Run twice and compare predictions byte for byte.")
    ] = True,
    strict: Annotated[
        bool, typer.Option(help="Exit 9 unless every team is reproduced or within noise.")
    ] = False,
    hardware_check: Annotated[
        bool,
        typer.Option(
            help="Re-run the scoring steps under the other numerical setting (native kernels "
            "against portable ones) for the hardware-noise band."
        ),
    ] = True,
) -> None:
    """Re-run winning solutions on a release in the sandbox; score, verdict, MLflow run."""
    from portal.reproduce.reproduction import Reproduction, select_teams

    chosen = select_teams(project(), challenge, teams)  # a misspelt team stops everything
    job = Reproduction(project(), challenge, release)
    rows = []
    refused: list[PortalError] = []
    for team in chosen:
        if not _state["quiet"]:
            errors.print(f"reproducing {team} on {challenge} {job.version} …", highlight=False)
        try:
            outcome = job.run(
                team, repeat=repeat, progress=_say_progress, hardware_check=hardware_check
            )
        except PortalError as error:  # this team's declaration; the others still run
            _print_error(error)
            refused.append(error)
            continue
        row = json.loads((outcome.out / "verdict.json").read_text())
        rows.append(row)
        line = _verdict_line(row, outcome.wall_seconds, job.challenge.metric.official)
        errors.print(line, highlight=False, soft_wrap=True)
        if outcome.verdict.verdict.value == "failed":
            errors.print(
                f"{team} failed: {outcome.verdict.reason}", highlight=False, soft_wrap=True
            )
    if rows and not _state["quiet"]:
        _print_wide(_verdict_table(rows, f"{challenge} {job.version}: reproduction verdicts"))
    if refused:
        raise typer.Exit(refused[0].exit_code)
    bad = [r for r in rows if r["verdict"] in ("not reproduced", "failed")]
    if strict and bad:
        raise NotReproducedError(
            f"--strict: {len(bad)} team(s) not reproduced on {challenge} {job.version}: "
            + ", ".join(f"{r['team']} ({r['verdict']})" for r in bad)
            + ".",
            hint=f"read each team's logs and verdict.json under "
            f"runs/{challenge}/{job.version}/<team>/.",
        )


def _say_progress(text: str) -> None:
    if not _state["quiet"]:
        errors.print(f"  {text}", highlight=False, soft_wrap=True)


def _verdict_line(row: dict, seconds: float, metric: str) -> str:
    """One line per reproduction: the score it got, against the official one, and the verdict."""
    reproduced = row.get("reproduced")
    score = f"{reproduced:.4f}" if isinstance(reproduced, float) else "none"
    ci = row.get("ci")
    interval = f", 95% CI [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return (
        f"{row['team']}: {row['verdict']}: {metric} {score} (official {row['official']:.4f}"
        f"{interval}) in {seconds:.0f} s"
    )


@app.command()
def verdicts(
    challenge: Annotated[str, typer.Argument(help="Challenge, e.g. datpark.")],
    release: Annotated[str | None, typer.Option("--release", help="Only this version.")] = None,
    hardware: Annotated[
        bool,
        typer.Option(
            "--hardware",
            help="Also show the numerical setting, the hardware check and the machine.",
        ),
    ] = False,
) -> None:
    """Print the latest reproduction verdicts recorded under runs/."""
    from portal.reproduce.reproduction import collect_verdicts

    rows = collect_verdicts(project(), challenge, release)
    if not rows:
        raise PortalError(
            f"no reproduction of {challenge} under {project().resolve() / 'runs' / challenge}.",
            hint=f"run `portal reproduce {challenge}` or `dvc repro`.",
        )
    _print_wide(_verdict_table(rows, f"{challenge}: reproduction verdicts"))
    if hardware:
        _print_wide(_hardware_table(rows, f"{challenge}: numerics and machine of each run"))


def _hardware_table(rows: list[dict], title: str) -> Table:
    """The numerical setting, the hardware check and the machine of each verdict."""
    table = Table(title=title)
    for column in ("release", "team", "numerics", "hardware check", "machine", "libraries"):
        table.add_column(column)
    for row in rows:
        machine = row.get("hardware") or {}
        band = row.get("hardware_band")
        check = {True: "sensitive", False: "same bytes", None: "not run"}[
            row.get("hardware_sensitive")
        ]
        if band and row.get("hardware_sensitive"):
            check += f", band [{band[0]:.4f}, {band[1]:.4f}]"
        setting = row.get("numerics") or "?"
        if row.get("numerics_reason"):
            setting += f" (opted out: {row['numerics_reason']})"
        table.add_row(
            row["version"],
            row["team"],
            setting,
            check,
            f"{machine.get('cpu_model', '?')}, {machine.get('isa_level', '?')}, "
            f"{machine.get('usable_cpus', '?')} CPUs, {machine.get('memory_gib', '?')} GiB, "
            f"{machine.get('os', '?')}, kernel {machine.get('kernel', '?')}, "
            f"{machine.get('libc', '?')}; flags: {' '.join(machine.get('kernel_flags') or [])}",
            str(machine.get("libraries", "?")),
        )
    return table


site_app = typer.Typer(help="The public site: build it, serve it.")
app.add_typer(site_app, name="site")


@site_app.command("build")
def site_build(
    out: Annotated[
        Path | None, typer.Option("--out", help="Where the site goes; default site/.")
    ] = None,
    book: Annotated[
        bool, typer.Option("--book/--no-book", help="Also build the Jupyter Book per challenge.")
    ] = True,
) -> None:
    """Generate every page from the data cards, releases and MLflow runs; mkdocs --strict."""
    from portal.site.build import build_site

    result = build_site(project(), out or project() / "site", book=book)
    if not _state["quiet"]:
        timing = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
        console.print(f"built {result.pages} pages into {result.site} ({timing})", highlight=False)
        for language, missing in result.missing.items():  # shown in English on the pages
            if missing:
                console.print(
                    f"not translated ({language}): {len(missing)}; "
                    + "; ".join(escape(m) for m in missing[:20])
                    + (" …" if len(missing) > 20 else ""),
                    highlight=False,
                    soft_wrap=True,
                )
        console.print(
            f"open it: portal site serve  (http://127.0.0.1:8000/), or {result.site}/index.html",
            highlight=False,
            soft_wrap=True,
        )


@site_app.command("serve")
def site_serve(
    site: Annotated[
        Path | None, typer.Option("--site", help="The built site; default site/.")
    ] = None,
    port: Annotated[
        int, typer.Option("--port", help="Port on 127.0.0.1.", min=1, max=65535)
    ] = 8000,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the built site, and each release's files under /files/<challenge>/<version>/."""
    from portal.site.build import make_server

    site = site or project() / "site"
    server = make_server(project(), site, host, port)
    console.print(f"serving {site} on http://{host}:{port}/ (Ctrl-C stops)", highlight=False)
    try:
        server.serve_forever()
    finally:
        server.server_close()


_PLAIN = {"highlight": False, "soft_wrap": True}  # no colouring of numbers, no wrapping


def _print_error(error: PortalError) -> None:
    errors.print(f"[bold red]error:[/] {escape(str(error))}", **_PLAIN)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_problem(error: parse_errors.UsageError) -> str:
    """What is wrong with the command line, in one line."""
    if error.ctx is not None and error.message == "Missing command.":  # a group, alone
        names = error.ctx.command.list_commands(error.ctx)
        return f"missing command: choose one of {', '.join(names)}."
    if isinstance(error, parse_errors.NoSuchOption):
        text = f"no such option: {error.option_name}"
        top = error.ctx.find_root() if error.ctx is not None else None
        if top is not None and top is not error.ctx:
            names = {name for p in top.command.params for name in p.opts + p.secondary_opts}
            if error.option_name in names:
                command = error.ctx.command_path.removeprefix("portal ")
                return (
                    f"{text} here: {error.option_name} is an option of `portal` itself; put it "
                    f"before the command: `portal {error.option_name} … {command} …`."
                )
        if error.possibilities:
            text += f" (did you mean {' or '.join(sorted(error.possibilities))}?)"
        return text
    text = error.format_message()
    what = getattr(getattr(error, "param", None), "help", None)
    if isinstance(error, parse_errors.MissingParameter) and what:
        text = f"{text.rstrip('.')}: {what}"
    return _one_line(text)


def _usage_line(error: parse_errors.UsageError) -> str:
    if error.ctx is None:
        return "Usage: portal [OPTIONS] COMMAND [ARGS]...  (see `portal --help`)"
    usage = _one_line(error.ctx.get_usage())
    return f"{usage}  (see `{error.ctx.command_path} --help`)"


def _report(error: PortalError | parse_errors.ClickException) -> int:
    """Print ``error`` for a person and return its exit code."""
    if isinstance(error, PortalError):
        _print_error(error)
        return error.exit_code
    if isinstance(error, parse_errors.UsageError):
        errors.print(f"[bold red]error:[/] {escape(_usage_problem(error))}", **_PLAIN)
        errors.print(escape(_usage_line(error)), **_PLAIN)
        return EXIT_USAGE
    # any other parser error, e.g. a file it could not open
    errors.print(f"[bold red]error:[/] {escape(_one_line(error.format_message()))}", **_PLAIN)
    return error.exit_code


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app and turn every outcome into an exit code.

    A usage error is one line saying what is wrong, the usage line and exit code 2; a
    ``PortalError`` is its message, problems and fix, and its own exit code; Ctrl-C is one
    line and 130. ``--debug`` shows the traceback of either (docs/cli.md has the table).
    """
    args = sys.argv[1:] if argv is None else list(argv)
    leading = list(itertools.takewhile(lambda arg: arg.startswith("-"), args))
    started = time.monotonic()
    try:
        code = app(args=args, prog_name="portal", standalone_mode=False)
    except (PortalError, parse_errors.ClickException) as error:
        if _state["debug"] or "--debug" in leading:
            traceback.print_exc()
        code = _report(error)
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into this code
        errors.print(
            "[yellow]interrupted[/] (Ctrl-C): nothing half-written was kept; a command that "
            "was writing finishes when run again.",
            highlight=False,
            soft_wrap=True,
        )
    from portal.core.console import record_timing

    seconds = time.monotonic() - started
    record_timing(["portal", *args], seconds, code if isinstance(code, int) else 0)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
