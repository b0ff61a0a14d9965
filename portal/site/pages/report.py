"""One report per team: verdict, scores, subgroups, figures, environment, model card."""

from __future__ import annotations

import datetime as dt
import functools
import json

from portal.site import figures, modality, untrusted
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    badge,
    group_order,
    metric_label,
    mlflow_link,
    number,
    page,
    table,
    verdict_legend,
)
from portal.site.pages.common import facts as facts_table
from portal.site.sources import ChallengeInfo, RunInfo, Sources, TeamInfo
from portal.site.untrusted import code, fenced, html_block, inline, link, preformatted

#: Fewer exams than this in a subgroup, and its score is flagged as unreliable.
SMALL_GROUP = 20


def subgroup_table(groups: dict, metric: str, records: str = "Exams (n)") -> str:
    """One row per group, in reading order (age bands by age): n, the official metric with
    its 95 % interval, ROC AUC, and a flag on small groups."""
    rows = []
    for g in group_order(groups):
        v = groups[g] or {}
        n = v.get("n")
        smallest = v.get("smallest_class")
        if smallest is None and isinstance(v.get("positives"), int) and isinstance(n, int):
            smallest = min(v["positives"], n - v["positives"])  # a record from before classes
        small = isinstance(n, int) and (
            n < SMALL_GROUP or (isinstance(smallest, int) and smallest < 5)
        )
        low, high = v.get("low"), v.get("high")
        interval = (
            f" [{number(low, 2)}, {number(high, 2)}]"
            if low is not None and high is not None and number(low) != "n/a"
            else ""
        )
        rows.append(
            [
                inline(g),
                f"{inline(n)}{' ⚠ ' + t('small') if small else ''}",
                f"{number(v.get(metric), 2)}{interval}",
            ]
            + ([] if metric == "roc_auc" else [number(v.get("roc_auc"), 2)])
        )
    return table(
        [
            t("Group"),
            t(records),
            t("{metric} [95 % CI]", metric=metric_label(metric)),
        ]
        + ([] if metric == "roc_auc" else [t("ROC AUC")]),  # not twice when it is official
        rows,
    )


#: The runs of one reproduction, as ``record.json`` names them under ``attempts``.
ATTEMPTS = {"first": "first run", "repeat": "second run", "hardware": "other-kernels check"}


def wall_times(rec: dict, cost: dict) -> str:
    """Each run's wall time (the sum of its steps) and their total; the first run's is the
    MLflow metric ``wall_seconds``."""
    attempts = rec.get("attempts") or {}
    parts, total = [], 0.0
    for key in [k for k in ATTEMPTS if k in attempts] + sorted(set(attempts) - set(ATTEMPTS)):
        steps = attempts.get(key) or []
        seconds = sum(float(st.get("wall_seconds") or 0) for st in steps)
        total += seconds
        parts.append(f"{t(ATTEMPTS.get(key, inline(key)))} {number(seconds, 1)} s")
    if not parts:
        return t("{seconds} s (first run)", seconds=number(cost.get("wall_seconds"), 1))
    first = cost.get("wall_seconds")
    if first is not None and "first" in attempts:  # the figure MLflow has for the first run
        parts[0] = f"{t('first run')} {number(first, 1)} s"
    return t("{seconds} s in all:", seconds=number(total, 1)) + " " + ", ".join(parts)


class ReportPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def report(self, c: ChallengeInfo, info: TeamInfo) -> None:
        algo = info.team.algorithm
        folder = f"{c.id}/teams/{info.team.id}"
        out = [f"# {inline(algo.team)}: {inline(algo.title)}", ""]
        facts = [
            [t("Official rank"), str(info.official.rank) if info.official else "–"],
            [
                t("Official score (private)"),
                number(info.official.private_score if info.official else None),
            ],
            [
                t("Public leaderboard score"),
                number(info.official.public_score if info.official else None),
            ],
            [t("License"), inline(algo.license)],
            [
                t("Upstream code"),
                t(
                    "{repository} at {commit}",
                    repository=link(algo.upstream.repository, algo.upstream.repository),
                    commit=code(algo.upstream.commit),
                ),
            ],
            [t("Packaged in"), f"`reproduce/{c.id}/{info.team.id}/`"],
            [t("Seeds"), inline(", ".join(map(str, algo.seeds)))],
            [
                t("Resource limits"),
                t(
                    "{cpu} CPU s, {memory} GB, {wall} s wall",
                    cpu=inline(algo.resources.cpu_seconds),
                    memory=inline(algo.resources.memory_gb),
                    wall=f"{algo.resources.wall_seconds:.0f}",
                ),
            ],
        ]
        out += [facts_table(facts)]
        versions = [v for v in self._versions_with_runs(c) if (info.team.id, v) in c.runs]
        if not versions:
            out += [
                t("## Not yet reproduced"),
                "",
                t(
                    "No finished MLflow run of this team yet. Run {command}.",
                    command=f"`portal reproduce {c.id} {info.team.id}`",
                ),
                "",
            ]
        else:
            run = c.runs[(info.team.id, versions[0])]
            out += self._run_section(c, info, run, folder)
            older = [c.runs[(info.team.id, v)] for v in versions[1:]]
            if older:
                out += [t("## Other releases"), ""]
                out.append(
                    table(
                        [t("Release"), t("Verdict"), t("Reproduced"), t("MLflow run")],
                        [
                            [
                                r.version,
                                badge(r.verdict),
                                number(r.metrics.get(c.rules.metric.official if c.rules else "")),
                                f"[{r.run_id}]({mlflow_link(self.site, r)})",
                            ]
                            for r in older
                        ],
                    )
                )
        out += [
            t("## Model card"),
            "",
            t("*Written by the team; shown as text, with no HTML, scripts or remote images.*"),
            "",
            html_block(info.model_card),
        ]
        self.write(
            f"{folder}.md",
            page({"title": f"{algo.team}: {algo.title}"}, "\n".join(out), c.card.meta),
        )

    def _run_section(
        self, c: ChallengeInfo, info: TeamInfo, run: RunInfo, folder: str
    ) -> list[str]:
        rec = run.record
        verdict = rec.get("verdict", {})
        scores = rec.get("scores") or {}
        name = info.team.id
        export = {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "experiment_id": run.experiment_id,
            "tracking_uri": run.tracking_uri.split("?")[0]
            if run.tracking_uri.startswith("sqlite")
            else "",
            "start_time": run.start_time,
            "metrics": run.metrics,
            "params": run.params,
            "tags": run.tags,
        }
        self.write(f"{folder}/mlflow-run.json", json.dumps(export, indent=2, sort_keys=True) + "\n")
        started = dt.datetime.fromtimestamp(run.start_time / 1000, dt.UTC).strftime(
            "%Y-%m-%d %H:%M UTC"
        )
        out = [
            t("## Reproduction on release {version}", version=run.version),
            "",
            f"{badge(run.verdict)} {inline(verdict.get('reason', ''))}",
            "",
            verdict_legend(),
            "",
            t(
                "MLflow run {run} ({name}, started {started}) in experiment {exp}: "
                "[exported run]({export}) · [open in the MLflow UI]({ui}). Release content "
                "hash {hash}.",
                run=f"`{run.run_id}`",
                name=inline(run.run_name),
                started=started,
                exp=f"`{c.id}`",
                export=f"{name}/mlflow-run.json",
                ui=mlflow_link(self.site, run),
                hash=code(run.tags.get("release.content_hash", "?")),
            ),
            "",
        ]
        if rec.get("log_tail"):
            out += [
                t("### Where it failed"),
                "",
                t("The last lines the team's code wrote (shown as text):"),
                "",
                preformatted(str(rec["log_tail"])),
            ]
        metric_rows = []
        # the metrics the portal computed, in its order (official and secondary, then on
        # the card's hard cases and the others), as the run's record lists them
        for key in scores.get("metrics") or {}:
            if key in run.metrics:
                metric_rows.append([metric_label(key), number(run.metrics[key]), code(key)])
        official = scores.get("official") or {}
        out += [
            t("### Scores"),
            "",
            table([t("Metric"), t("Reproduced"), t("MLflow metric")], metric_rows),
            t(
                "Official metric 95 % bootstrap interval: [{low}, {high}] ({resamples} "
                "resamples). Official score announced by the challenge: {official}; difference "
                "{difference}, tolerance {tolerance}.",
                low=number(official.get("low")),
                high=number(official.get("high")),
                resamples=inline(official.get("resamples", "?")),
                official=number(info.official.private_score if info.official else None),
                difference=number(verdict.get("difference")),
                tolerance=inline(verdict.get("tolerance")),
            ),
            "",
        ]
        if "roc.png" in run.figures or "confusion.png" in run.figures:
            heading = (
                t("### ROC curve and confusion matrix")
                if "roc.png" in run.figures  # two classes
                else t("### Confusion matrix")
            )
            out += [heading, ""]
            shown = []
            for fig, alt in (("roc.png", t("ROC curve")), ("confusion.png", t("Confusion matrix"))):
                if fig in run.figures:
                    self.write(f"{folder}/{fig}", self._run_figure(c, info, run, fig))
                    shown.append(f'![{alt}]({name}/{fig}){{ width="340" }}')
            out += [
                " ".join(shown),
                "",
                t("*Drawn by the portal from the team's predictions; MLflow artifacts `figures/`.*")
                if self.language.default
                else t(
                    "*Drawn by the portal from the team's predictions, in this page's language, "
                    "from the run's `record.json` artifact (`scores.roc`, `scores.confusion`); "
                    "the MLflow artifacts `figures/` are the same figures in English.*"
                ),
                "",
            ]
        subgroups = scores.get("subgroups") or {}
        titles = {"centre": t("Per centre"), "sex": t("Per sex"), "age_band": t("Per age band")}
        metric = scores.get("official_metric") or "balanced_accuracy"
        view = modality.view_for(c)
        for key in subgroups:  # in the order of the rules' subgroups
            groups = subgroups.get(key)
            if not groups:
                continue
            title = titles.get(key) or t(
                "Per {column}", column=inline(t(str(key).replace("_", " ")))
            )
            out += [f"### {title}", ""]
            out.append(subgroup_table(groups, metric, f"{view.records_word.capitalize()} (n)"))
        if subgroups:
            out += [
                t(
                    "*From the run's `record.json` artifact (`scores.subgroups`). The interval "
                    "is the 95 % bootstrap interval of the {metric} within the group. ⚠ marks a "
                    "group of fewer than {small} {records} or with fewer than 5 of either class: "
                    "its score can swing widely by chance. n/a: one class only.*",
                    metric=inline(metric_label(metric)),
                    small=SMALL_GROUP,
                    records=t(view.records_word),
                ),
                "",
            ]
        out += self._calibration_section(c, info, run, folder)
        out += self._attribution_section(c, run, folder)
        saliency = sorted(f for f in run.figures if f.startswith("saliency-"))
        if saliency:
            out += [
                t("### Explanation maps"),
                "",
                t(
                    "Saliency maps of a few exams of the scoring split, made by the team's "
                    "`explain` entry point inside the sandbox:"
                ),
                "",
            ]
            shown = []
            for fig in saliency[:4]:  # file names come from the run's artifacts
                safe = untrusted.slug(fig.removesuffix(".png")) + ".png"
                self.write(f"{folder}/{safe}", run.figures[fig])
                shown.append(f'![{inline(fig)}]({name}/{safe}){{ width="340" }}')
            out += [" ".join(shown), ""]
        cost = rec.get("cost") or {}
        env = rec.get("environment") or {}
        det = rec.get("determinism") or {}
        steps = (rec.get("attempts") or {}).get("first") or []
        isolation = (steps[0].get("isolation") if steps else None) or {}
        out += [
            t("### Environment and runtime"),
            "",
            facts_table(
                [
                    [t("Wall time"), wall_times(rec, cost)],
                    [t("Peak memory"), f"{number(cost.get('peak_memory_mb'), 1)} MB"],
                    [
                        t("Same predictions twice"),
                        {True: t("yes"), False: f"**{t('no')}**"}.get(
                            det.get("identical"), t("not checked")
                        ),
                    ],
                    [
                        t("Requirements hash"),
                        code(env.get("requirements_hash") or run.params.get("requirements_hash")),
                    ],
                    [
                        t("Sandbox"),
                        ", ".join(inline(k.replace("_", " ")) for k, v in isolation.items() if v)
                        or t("none"),
                    ],
                    [t("Portal commit"), code(run.tags.get("git.commit", "?"))],
                ],
            ),
        ]
        if steps:
            out += [
                t(
                    "Steps of the first run (the second, which checks the predictions are the "
                    "same, is in `record.json`):"
                ),
                "",
                table(
                    [t("Step"), t("Wall s"), t("CPU s"), t("Peak MB"), t("Exit code")],
                    [
                        [
                            code(st.get("step")),
                            number(st.get("wall_seconds"), 1),
                            number(st.get("cpu_seconds"), 1),
                            number(st.get("peak_memory_mb"), 1),
                            inline(st.get("returncode")),
                        ]
                        for st in steps
                    ],
                ),
            ]
        out += self._numerics_section(rec)
        if run.environment:
            out += [
                '??? info "Installed packages (pip freeze)"',
                "",
                *fenced(run.environment, "text", indent="    "),
                "",
            ]
        return out

    def _calibration_section(
        self, c: ChallengeInfo, info: TeamInfo, run: RunInfo, folder: str
    ) -> list[str]:
        """The calibration curve of a binary task's run, redrawn from ``record.json``
        (``scores.calibration``) in the page's words; its AUPRC and Brier score are in the
        scores table above."""
        scores = run.record.get("scores") or {}
        points = figures.calibration_points(scores.get("calibration"))
        if not points:
            return []
        metrics = scores.get("metrics") or {}
        brier = metrics.get("brier_score", run.metrics.get("brier_score"))
        title = f"{info.team.algorithm.team}, {c.rules.scoring_split if c.rules else ''}"
        png = self.drawing(
            (run.run_id, "calibration.png"),
            functools.partial(figures.calibration_curve, points, brier, title),
        )
        name = info.team.id
        self.write(f"{folder}/calibration.png", png)
        rows = [
            [
                number(p, 2),
                number(o, 2),
                inline(n) if n is not None else "–",
            ]
            for p, o, n in points
        ]
        return [
            t("### Calibration"),
            "",
            f'![{t("Calibration curve")}]({name}/calibration.png){{ width="340" }}',
            "",
            '??? info "' + t("Calibration bins") + '"',
            "",
            "    "
            + table(
                [t("Mean predicted probability"), t("Observed frequency"), t("n")], rows
            ).replace("\n", "\n    "),
            "",
            t(
                "*Drawn by the portal from the run's `record.json` artifact "
                "(`scores.calibration`): per bin of predicted probability, the share of the "
                "positive class observed; on the dashed diagonal a model is perfectly "
                "calibrated.*"
            ),
            "",
        ]

    def _attribution_section(self, c: ChallengeInfo, run: RunInfo, folder: str) -> list[str]:
        """Attributions over time (a team's ``explain`` output on time series), drawn by
        the tabular modality's figure code from the run's first explanation files; shown
        as the team's output, not the portal's finding."""
        # the reproduction's own drawings (MLflow figures/attributions-*.png, in English)
        # stand in when the explanation files cannot be drawn here
        drawn = sorted(f for f in run.figures if f.startswith("attribution"))
        png, alt = None, t("Attributions over time")
        if run.explanations and modality.view_for(c).kind == "tabular":
            figure = self.drawing(
                (run.run_id, "attributions.png"),
                functools.partial(modality.draw_attributions, run.explanations),
            )
            if figure is not None:
                png, alt = figure.png, figure.alt
        if png is None and drawn:
            png = run.figures[drawn[0]]
        if png is None:
            return []
        self.write(f"{folder}/attributions.png", png)
        return [
            t("### Explanation: attributions over time"),
            "",
            f'!!! warning "{t("Team output")}"',
            "",
            "    "
            + t(
                "The team's own output, not a finding of the portal: its `explain` entry "
                "point wrote these attributions inside the sandbox, and the portal only drew "
                "them. They show where in time, and on which signal, this model's score was "
                "sensitive; they do not show what causes the outcome."
            ),
            "",
            f"![{inline(alt)}]({folder.rsplit('/', 1)[-1]}/attributions.png)",
            "",
            t(
                "*From the MLflow run's artifacts `run/explanations/` (the first {n} files, by "
                "name), drawn by the tabular modality's figure code.*",
                n=len(run.explanations) or len(drawn),
            ),
            "",
        ]

    def _run_figure(self, c: ChallengeInfo, info: TeamInfo, run: RunInfo, fig: str) -> bytes:
        """The ROC curve or confusion matrix of a run: the MLflow artifact (drawn in English by
        the reproduction), or, for a page in another language, the same figure redrawn from
        ``record.json`` in that language (once per build and language)."""
        scores = run.record.get("scores") or {}
        needed = "roc" if fig == "roc.png" else "confusion"
        if self.language.default or not scores.get(needed):
            return run.figures[fig]
        title = f"{info.team.algorithm.team}, {c.rules.scoring_split if c.rules else ''}"
        if fig == "roc.png":
            auc = (scores.get("metrics") or {}).get("roc_auc")
            draw = functools.partial(figures.roc_curve, scores["roc"], auc, title)
        else:
            index = c.card.meta.schema.index()  # class -> number: the negative class first
            shown = {name: t(name) for name in sorted(index, key=index.get)}
            draw = functools.partial(figures.confusion_matrix, scores["confusion"], title, shown)
        return self.drawing((run.run_id, fig), draw)

    def _numerics_section(self, rec: dict) -> list[str]:
        """The numerical setting, the hardware check and the machine, from ``record.json``."""
        setting = rec.get("numerics") or {}
        machine = rec.get("hardware") or {}
        check = rec.get("hardware_check") or {}
        if not setting:
            return []
        chosen = inline(setting.get("setting", "?"))
        if setting.get("opted_out"):
            chosen += " " + t(
                "(the team opted out of portable numerics: {reason})",
                reason=inline(setting.get("reason")),
            )
        if check.get("identical") is True:
            seen = t("the other setting gave the same predictions, byte for byte")
        elif check.get("identical") is False and check.get("band"):
            low, high = check["band"]
            seen = t(
                "**sensitive**: [{low}, {high}], spread {spread}; the official score lies "
                + ("inside it" if check.get("official_in_band") else "outside it"),
                low=number(low),
                high=number(high),
                spread=number(check.get("spread")),
            )
        elif check.get("checked"):
            seen = t(
                "not possible: {why}",
                why=inline(check.get("failure") or check.get("sentence")),
            )
        else:
            seen = t("not run")
        probe = setting.get("probe") or {}
        torch = probe.get("torch") if isinstance(probe.get("torch"), dict) else None
        numpy = probe.get("numpy") if isinstance(probe.get("numpy"), dict) else None
        libraries = []
        if torch:
            libraries.append(
                f"torch {inline(torch.get('version'))}: CPU capability "
                f"{inline(torch.get('cpu_capability'))}, BLAS {inline(torch.get('blas'))}, "
                f"oneDNN {'on' if torch.get('mkldnn_enabled') else 'off'}, "
                f"{inline(torch.get('num_threads'))} thread(s)"
            )
        if numpy:
            libraries.append(
                f"numpy {inline(numpy.get('version'))}: {inline(numpy.get('blas'))}, OpenBLAS "
                f"core {inline(', '.join(map(str, numpy.get('openblas_core') or [])) or '?')}, "
                "SIMD beyond the baseline: "
                f"{inline(', '.join(map(str, numpy.get('simd_dispatch_enabled') or [])) or 'none')}"
            )
        pins = setting.get("pins") or {}
        rows = [
            [t("Numerical setting"), chosen],
            [t("Hardware-noise band (native vs portable kernels)"), seen],
            [
                t("Machine"),
                t(
                    "{model} ({level}), {usable} usable CPUs of {logical}, {memory} GiB",
                    model=inline(machine.get("cpu_model")),
                    level=inline(machine.get("isa_level")),
                    usable=inline(machine.get("usable_cpus")),
                    logical=inline(machine.get("logical_cpus")),
                    memory=inline(machine.get("memory_gib")),
                ),
            ],
            [
                t("CPU flags that choose kernels"),
                inline(" ".join(machine.get("kernel_flags") or [])),
            ],
            [
                t("System"),
                f"{inline(machine.get('os'))}, kernel {inline(machine.get('kernel'))}, "
                f"{inline(machine.get('libc'))}, Python {inline(probe.get('python', '?'))}",
            ],
            [
                t("Numerical libraries (as the run saw them)"),
                "; ".join(libraries) or t("none probed"),
            ],
            [
                t("Pinned variables"),
                ", ".join(code(f"{k}={v}") for k, v in sorted(pins.items())) or t("none"),
            ],
        ]
        return [
            t("### Numerics and machine"),
            "",
            facts_table(rows),
            t(
                "*From the run's `record.json` (`numerics`, `hardware`, `hardware_check`) and "
                "the MLflow run's `numerics*` and `hardware.*` tags. docs/reproduction.md, "
                '"Portable numerics", says what each variable pins and how to read the band.*'
            ),
            "",
        ]
