"""How to cite a release: CITATION.cff (CFF 1.2.0), DataCite 4.x JSON and BibTeX.

All three are made from the data card and the release's manifest, so the
version, date, size and content hash a citation names are the released ones.
"""

from __future__ import annotations

import re

import yaml

from portal.release.cards import DataCard, cited_title, provenance_notice

SPDX_TO_CFF = {"CC-BY-4.0": "CC-BY-4.0", "CC0-1.0": "CC0-1.0", "etalab-2.0": "etalab-2.0"}


def _authors(card: DataCard) -> list[dict]:
    out = []
    for creator in card.creators:
        if creator.type == "Person":
            family, _, given = creator.name.partition(", ")
            person = {"family-names": family, "given-names": given or ""}
            if creator.orcid:
                person["orcid"] = f"https://orcid.org/{creator.orcid}"
            if creator.affiliation:
                person["affiliation"] = creator.affiliation
            out.append(person)
        else:
            out.append({"name": creator.name})
    return out


def citation_cff(card: DataCard, version: str, date: str, content_hash: str) -> str:
    """CITATION.cff text, valid against the CFF 1.2.0 schema; a synthetic dataset says so in
    its title, abstract, message and keywords."""
    notice = provenance_notice(card)
    data = {
        "cff-version": "1.2.0",
        "message": "If you use this dataset, please cite it as below, naming the version."
        + (" It is synthetic: no record comes from a patient." if notice else ""),
        "type": "dataset",
        "title": cited_title(card),
        "version": version,
        "date-released": date,
        "abstract": f"{notice} {card.summary}" if notice else card.summary,
        "authors": _authors(card),
        "keywords": [*card.keywords, *(["synthetic data"] if notice else [])],
        "license": SPDX_TO_CFF.get(card.license, card.license),
        "identifiers": [
            {
                "type": "other",
                "value": content_hash,
                "description": "sha256 content hash of every file of this release",
            },
        ],
    }
    if card.citation.doi:
        data["doi"] = card.citation.doi
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def datacite(
    card: DataCard, version: str, date: str, content_hash: str, size: int, file_count: int
) -> dict:
    """DataCite metadata (kernel 4.5, JSON), valid against the ``datacite`` package schema."""
    creators = []
    for creator in card.creators:
        item = {
            "name": creator.name,
            "nameType": "Personal" if creator.type == "Person" else "Organizational",
        }
        if creator.affiliation:
            item["affiliation"] = [{"name": creator.affiliation}]
        creators.append(item)
    notice = provenance_notice(card)
    descriptions = [{"description": card.summary, "descriptionType": "Abstract"}]
    if notice:
        descriptions = [
            {"description": f"{notice} {card.summary}", "descriptionType": "Abstract"},
            {"description": notice, "descriptionType": "Other"},
        ]
    record = {
        "alternateIdentifiers": [
            {"alternateIdentifier": content_hash, "alternateIdentifierType": "sha256"}
        ],
        "creators": creators,
        "titles": [{"title": cited_title(card)}],
        "publisher": {"name": card.publisher},
        "publicationYear": date[:4],
        "types": {
            "resourceTypeGeneral": "Dataset",
            "resourceType": ("Synthetic m" if notice else "M") + "edical imaging dataset",
        },
        "subjects": [
            {"subject": keyword}
            for keyword in [*card.keywords, *(["synthetic data"] if notice else [])]
        ],
        "dates": [{"date": date, "dateType": "Issued"}],
        "language": card.language[0],
        "version": version,
        "sizes": [f"{size} bytes", f"{file_count} files"],
        "formats": ["application/dicom", "application/vnd.apache.parquet", "text/csv"],
        "rightsList": [{"rights": card.license, "rightsUri": card.license_url}],
        "descriptions": descriptions,
        "fundingReferences": [
            {"funderName": f.funder, **({"awardTitle": f.award} if f.award else {})}
            for f in card.funding
        ],
        "schemaVersion": "http://datacite.org/schema/kernel-4",
    }
    if card.citation.doi:
        record["doi"] = card.citation.doi
    return record


def bibtex(card: DataCard, version: str, date: str, content_hash: str) -> str:
    key = re.sub(r"[^a-z0-9]+", "_", f"{card.id} {version}".lower()).strip("_")
    authors = " and ".join(
        "{" + c.name + "}" if c.type == "Organization" else c.name for c in card.creators
    )
    notice = provenance_notice(card)
    fields = {
        "title": "{" + cited_title(card) + "}",
        "author": authors,
        "year": date[:4],
        "version": version,
        "publisher": "{" + card.publisher + "}",
        "note": f"Dataset release {version}, content hash {content_hash}",
    }
    if notice:  # what a citation manager shows of a synthetic dataset
        fields["note"] = f"{notice} {fields['note']}"
        fields["keywords"] = "synthetic data"
    if card.citation.doi:
        fields["doi"] = card.citation.doi
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@misc{{{key},\n{body}\n}}\n"
