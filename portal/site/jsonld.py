"""schema.org ``Dataset`` JSON-LD for a dataset page, from the data card and the release."""

from __future__ import annotations

from portal.release.cards import DataCard, cited_title, provenance_notice
from portal.site import untrusted
from portal.site.sources import ReleaseInfo, SiteParams


def _agent(creator) -> dict:
    kind = "Person" if creator.type == "Person" else "Organization"
    agent = {"@type": kind, "name": creator.name}
    if creator.orcid:
        agent["identifier"] = f"https://orcid.org/{creator.orcid}"
    if creator.affiliation:
        agent["affiliation"] = {"@type": "Organization", "name": creator.affiliation}
    return agent


def dataset(card: DataCard, release: ReleaseInfo, site: SiteParams, page_url: str) -> dict:
    base = f"{site.downloads}{release.challenge}/{release.version}/"
    identifiers = [release.content_hash]
    if card.citation.doi:
        identifiers.insert(0, f"https://doi.org/{card.citation.doi}")
    shards = [f for f in release.manifest.files if f.path.endswith(".parquet")]
    notice = provenance_notice(card)
    return {
        "@context": "https://schema.org/",
        "@type": "Dataset",
        "name": cited_title(card),
        "description": f"{notice} {card.summary}" if notice else card.summary,
        "url": page_url,
        "version": release.version,
        "identifier": identifiers,
        "license": card.license_url,
        "keywords": [*card.keywords, *(["synthetic data"] if notice else [])],
        "inLanguage": card.language,
        "creator": [_agent(c) for c in card.creators],
        "publisher": {"@type": "Organization", "name": card.publisher},
        "funder": [{"@type": "Organization", "name": f.funder} for f in card.funding],
        "datePublished": release.date,
        "isAccessibleForFree": True,
        "measurementTechnique": card.modality,
        "contentSize": f"{release.total_bytes} B",
        "citation": card.citation.title,
        "distribution": [
            {
                "@type": "DataDownload",
                "name": shard.path,
                "encodingFormat": "application/vnd.apache.parquet",
                "contentUrl": base + shard.path,
                "contentSize": f"{shard.size} B",
                "sha256": shard.sha256,
            }
            for shard in shards
        ]
        + [
            {
                "@type": "DataDownload",
                "name": "SHA256SUMS",
                "encodingFormat": "text/plain",
                "contentUrl": base + "SHA256SUMS",
            },
            {
                "@type": "DataDownload",
                "name": "croissant.json",
                "encodingFormat": "application/ld+json",
                "contentUrl": base + "croissant.json",
            },
        ],
    }


def script_text(data: dict) -> str:
    """JSON safe to put inside ``<script type="application/ld+json">``: every field of the
    card is untrusted, so the escaping rules are :mod:`portal.site.untrusted`'s."""
    return untrusted.json_for_script(data)
