"""Per version: size, download recipes, checksums, verified mirrors."""

from __future__ import annotations

import html

from portal.site import modality
from portal.site.i18n import t
from portal.site.pages.common import (
    Writer,
    count,
    page,
    size,
    split_order,
    table,
)
from portal.site.sources import ChallengeInfo, Sources
from portal.site.untrusted import code, inline


def download_recipes(
    base: str,
    name: str,
    content_hash: str,
    repository: str,
    path: str,
    datasets: list[str] | None = None,
) -> dict[str, tuple[str, list[str]]]:
    """The download page's recipes, by tab title: (language, lines). Each ends in
    ``portal verify --expect`` against the published content hash; the curl recipe
    fetches exactly the files ``SHA256SUMS`` lists (``manifest.json`` included) and
    refuses absolute paths and ``..`` in that list. ``datasets`` is the modality's
    ``datasets`` recipe (:meth:`portal.site.modality.View.datasets_recipe`)."""
    verify = f"portal verify {name} --expect {content_hash}"
    recipes = {
        "curl + sha256sum": (
            "bash",
            [
                f"mkdir {name} && cd {name}",
                f"curl -fsSLO {base}SHA256SUMS",
                "cut -d' ' -f3- SHA256SUMS | while read -r f; do",
                '  case "$f" in /*|*..*) echo "refused: $f" >&2; exit 1;; esac',
                f'  curl -fsSL --create-dirs -o "$f" "{base}$f"',
                "done",
                "sha256sum -c SHA256SUMS",
                "cd ..",
                verify,
            ],
        ),
        "datasets": (
            "python",
            datasets
            or [
                "# after the curl or dvc get recipe and its `portal verify ... --expect`",
                "from datasets import load_dataset",
                "",
                f'ds = load_dataset("{name}")  # the verified folder',
                'print(ds["train"][0]["label"])',
            ],
        ),
    }
    if repository:  # only with a configured repository: no placeholder address
        recipes["dvc get"] = (
            "bash",
            [
                f"dvc get {repository} {path} -o {name}",
                f"(cd {name} && sha256sum -c SHA256SUMS)",
                verify,
            ],
        )
    return recipes


def hub_recipe(repo: str, version: str, name: str, content_hash: str) -> list[str]:
    """Download a version from the Hub by its tag, verify it, then load that folder."""
    return [
        f"hf download {repo} --repo-type dataset --revision {version} --local-dir {name}",
        f"rm -rf {name}/.cache  # the download tool's own bookkeeping, not the release",
        f"portal verify {name} --expect {content_hash}",
        f"python -c 'import datasets; print(datasets.load_dataset(\"{name}\"))'",
    ]


class DownloadPage:
    """Mixed into :class:`portal.site.pages.SiteWriter`."""

    sources: Sources
    write: Writer
    book: bool

    def _hub_tabs(self, r) -> list[str]:
        """A tab per Hub repository verified to hold this version: download the tag,
        verify it against the content hash, load it."""
        out = []
        for hub in (m for m in r.mirrors if m["target"].startswith("hf://")):
            repo = hub["target"].removeprefix("hf://datasets/").split("@")[0]
            name = f"{repo.split('/')[-1]}-{r.version}"
            out += [f'=== "Hugging Face Hub ({inline(repo)})"', "", "    ```bash"]
            out += [f"    {line}" for line in hub_recipe(repo, r.version, name, r.content_hash)]
            out += ["    ```", ""]
        return out

    def _mirror_table(self, r) -> list[str]:
        """Where ``portal publish`` verified this very content (publications.json)."""
        if not r.mirrors:
            return []
        rows = [
            [
                code(m["target"]),
                inline(m["at"]),
                t("{files} files, {size}", files=inline(m["files"]), size=size(m["bytes"])),
            ]
            for m in r.mirrors
        ]
        return [
            t("### Verified mirrors of {version}", version=r.version),
            "",
            t(
                "Each holds this exact content: after the upload, every file's size and "
                "checksum as the mirror reports them matched the manifest (source: "
                "`data/<challenge>/publications.json`)."
            ),
            "",
            table([t("Mirror"), t("Checked (UTC)"), t("Content")], rows),
            "",
        ]

    def download(self, c: ChallengeInfo) -> None:
        out = [
            t("# Download {title}", title=inline(c.title)),
            "",
            t(
                "Every file of a version is listed with its size and sha256 in `manifest.json`, "
                "and `SHA256SUMS` lists them and `manifest.json` itself. Each recipe below ends "
                "in `portal verify <folder> --expect <content hash>`: it recomputes the content "
                "hash from the files and accepts only the one published here (and in "
                "`CITATION.cff`, DataCite, BibTeX and Croissant). Without the portal, "
                "`sha256sum -c SHA256SUMS` checks every file, manifest included, against the "
                "list; to tie that list to the published release, check that `manifest.json` "
                "records the content hash shown here (`grep -F <content hash> manifest.json`). "
                "Only `portal verify --expect` recomputes the hash from the files themselves. "
                "Older versions stay available and never change."
            ),
            "",
            # read by assets/portal/downloads.js: served on another port or host than the
            # configured local address, the commands and links follow the page's own address
            f'<div class="portal-downloads" data-site="{html.escape(self.site.url)}" '
            f'data-downloads="{html.escape(self.site.downloads)}" hidden></div>',
            "",
        ]
        if not self.site.repository:
            out += [
                t(
                    "A `dvc get` recipe appears here once the portal's git repository is named "
                    "(`site.repository` in `params.yaml`)."
                ),
                "",
            ]
        for r in reversed(c.releases):
            base = f"{self.site.downloads}{c.id}/{r.version}/"
            name = f"{c.id}-{r.version}"
            dicom = [f for f in r.manifest.files if f.path.startswith("dicom/")]
            others = [f for f in r.manifest.files if not f.path.startswith("dicom/")]
            out += [
                t("## Version {version}", version=r.version),
                "",
                t(
                    "**{size}** ({bytes} bytes) in **{files} files**, released {date}. Content "
                    "hash {hash}.",
                    size=size(r.total_bytes),
                    bytes=count(r.total_bytes),
                    files=count(r.file_count),
                    date=r.date,
                    hash=f"`{r.content_hash}`",
                ),
                "",
            ]
            recipes = download_recipes(
                base,
                name,
                r.content_hash,
                self.site.repository,
                f"data/{c.id}/releases/{r.version}",
                modality.view_for(c).datasets_recipe(name),
            )
            for title, (language, lines) in recipes.items():
                out += [f'=== "{title}"', "", f"    ```{language}"]
                out += [f"    {line}" if line else "" for line in lines]
                out += ["    ```", ""]
            out += self._hub_tabs(r)
            rows = [
                [
                    f"[`{f.path}`]({base}{f.path})",
                    count(f.size),
                    f'<code class="portal-hash">{f.sha256}</code>',
                ]
                for f in others
            ]
            out += [
                t("### Files of {version}", version=r.version),
                "",
                table([t("File"), t("Bytes"), "sha256"], rows),
            ]
            by_split: dict[str, list] = {}
            for f in dicom:
                by_split.setdefault(f.path.split("/")[1], []).append(f)
            order = split_order(by_split, c.card.meta.split_policy)
            if by_split:
                out += [
                    t(
                        "The de-identified DICOM, by split (each file's sha256 is in {sums}):",
                        sums=f"[SHA256SUMS]({r.version}/SHA256SUMS)",
                    ),
                    "",
                    table(
                        [t("Folder"), t("Files"), t("Bytes")],
                        [
                            [f"`dicom/{s}/`", count(len(fs)), count(sum(f.size for f in fs))]
                            for s, fs in ((s, by_split[s]) for s in order)
                        ],
                    ),
                ]
            out += modality.view_for(c).release_contents(self, c, r)
            out += [
                t("Lists:") + f" [SHA256SUMS]({r.version}/SHA256SUMS) · "
                f"[manifest.json]({r.version}/manifest.json)",
                "",
                *self._mirror_table(r),
            ]
        self.write(
            f"{c.id}/download.md",
            page(
                {
                    "title": t("Download: {title}", title=c.title),
                    **self._jsonld(c, f"{c.id}/download.md"),
                },
                "\n".join(out),
                c.card.meta,
            ),
        )
