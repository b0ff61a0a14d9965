"""Croissant 1.1 metadata (with the Responsible AI fields) for a release.

It describes the release's files (the metadata tables, the Parquet shards,
the DICOM tree) with their checksums, and record sets (exams and labels,
clinical data, splits) read from the ``metadata/`` tables, so ``mlcroissant
load`` yields one record per exam.
"""

from __future__ import annotations

from portal.core.croissant import CONTEXT
from portal.release.cards import Card, cited_title, provenance_notice

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"


#: Croissant data types of the card's field types.
DATA_TYPES = {
    "boolean": "sc:Boolean",
    "integer": "sc:Integer",
    "number": "sc:Float",
    "text": "sc:Text",
}
EXAM_ID = ("exam_id", "sc:Text", "pseudonymous exam identifier")


def record_sets_of(card: Card) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """Record sets: name -> (file, [(column, Croissant data type, description)]), from the
    export contract's columns and the card's declared label fields."""
    schema = card.meta.schema
    label = card.meta.task.label_description or schema.describe_classes()
    return {
        "exams": (
            "labels.csv",
            [
                EXAM_ID,
                ("patient_id", "sc:Text", "pseudonymous patient identifier"),
                ("label", "sc:Text", label),
                *(
                    (f.name, DATA_TYPES[f.type], f.description)
                    for f in schema.label_fields()
                    if f.in_croissant
                ),
            ],
        ),
        "clinical": (
            "clinical.csv",
            [
                EXAM_ID,
                ("age", "sc:Integer", "age in years at the exam"),
                ("sex", "sc:Text", "M or F"),
                ("centre", "sc:Text", "centre code"),
            ],
        ),
        "splits": (
            "splits.csv",
            [EXAM_ID, ("split", "sc:Text", schema.describe_splits())],
        ),
    }


def croissant(
    card: Card, version: str, date: str, content_hash: str, files: dict[str, str], citation: str
) -> dict:
    """The Croissant JSON-LD of a release; ``files`` maps release paths to sha256."""
    meta = card.meta
    sections = card.sections
    notice = provenance_notice(meta)
    distribution: list[dict] = []
    for name in ("labels.csv", "splits.csv", "clinical.csv"):
        path = f"metadata/{name}"
        if path in files:
            distribution.append(
                {
                    "@type": "cr:FileObject",
                    "@id": name,
                    "name": name,
                    "contentUrl": path,
                    "encodingFormat": "text/csv",
                    "sha256": files[path],
                }
            )
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "parquet-shards",
            "name": "parquet-shards",
            "description": "ML-ready rows, one per exam, the volume as a 3-D array",
            "encodingFormat": "application/x-parquet",
            "includes": "data/*.parquet",
        }
    )
    distribution.append(
        {
            "@type": "cr:FileSet",
            "@id": "dicom-files",
            "name": "dicom-files",
            "description": "the de-identified DICOM files, by split and exam",
            "encodingFormat": "application/dicom",
            "includes": "dicom/**/*.dcm",
        }
    )
    record_sets = [
        {
            "@type": "cr:RecordSet",
            "@id": name,
            "name": name,
            "key": {"@id": f"{name}/exam_id"},
            "field": [
                {
                    "@type": "cr:Field",
                    "@id": f"{name}/{column}",
                    "name": column,
                    "description": text,
                    "dataType": data_type,
                    "source": {"fileObject": {"@id": source}, "extract": {"column": column}},
                }
                for column, data_type, text in columns
            ],
        }
        for name, (source, columns) in record_sets_of(card).items()
        if f"metadata/{source}" in files
    ]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": meta.id,
        "alternateName": cited_title(meta),
        "description": f"{notice} {meta.summary}" if notice else meta.summary,
        "version": version,
        "datePublished": date,
        "license": meta.license_url,
        "keywords": [*meta.keywords, *(["synthetic data"] if notice else [])],
        "creator": [
            {"@type": "sc:Person" if c.type == "Person" else "sc:Organization", "name": c.name}
            for c in meta.creators
        ],
        "publisher": {"@type": "sc:Organization", "name": meta.publisher},
        "citeAs": citation,
        "isAccessibleForFree": True,
        "identifier": content_hash,
        "rai:dataCollection": (f"{notice} " if notice else "")
        + sections.get("Collection process", ""),
        "rai:dataPreprocessingProtocol": sections.get("Preprocessing and labelling", ""),
        "rai:dataAnnotationProtocol": meta.responsible_ai.annotation_protocol,
        "rai:dataUseCases": sections.get("Uses", ""),
        "rai:dataLimitations": meta.responsible_ai.limitations,
        "rai:dataBiases": meta.responsible_ai.biases,
        "rai:personalSensitiveInformation": meta.responsible_ai.personal_sensitive_information,
        "rai:dataSocialImpact": meta.responsible_ai.social_impact,
        "rai:dataReleaseMaintenancePlan": sections.get("Maintenance", ""),
        "distribution": distribution,
        "recordSet": record_sets,
    }
