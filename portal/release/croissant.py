"""Croissant 1.1 metadata (with the Responsible AI fields) for a release.

It describes the release's files (the metadata tables, the Parquet shards,
the DICOM tree) with their checksums, and record sets (exams and labels,
clinical data, splits) read from the ``metadata/`` tables, so ``mlcroissant
load`` yields one record per exam.
"""

from __future__ import annotations

from portal.release.cards import Card, cited_title, provenance_notice

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"

CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "arrayShape": "cr:arrayShape",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "containedIn": "cr:containedIn",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "description": {"@container": "@language"},
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isArray": "cr:isArray",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "name": {"@container": "@language"},
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

#: Record sets: name -> (file, [(column, Croissant data type, description)]).
RECORD_SETS = {
    "exams": (
        "labels.csv",
        [
            ("exam_id", "sc:Text", "pseudonymous exam identifier"),
            ("patient_id", "sc:Text", "pseudonymous patient identifier"),
            ("label", "sc:Text", "normal or pathological (readers' consensus)"),
            ("gray_zone", "sc:Boolean", "clinically borderline exam"),
        ],
    ),
    "clinical": (
        "clinical.csv",
        [
            ("exam_id", "sc:Text", "pseudonymous exam identifier"),
            ("age", "sc:Integer", "age in years at the exam"),
            ("sex", "sc:Text", "M or F"),
            ("centre", "sc:Text", "centre code"),
        ],
    ),
    "splits": (
        "splits.csv",
        [
            ("exam_id", "sc:Text", "pseudonymous exam identifier"),
            ("split", "sc:Text", "train, public_test or private_test"),
        ],
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
        for name, (source, columns) in RECORD_SETS.items()
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
        "rai:dataAnnotationProtocol": "Three nuclear medicine physicians read each exam; "
        "the label is their majority call, with confidence and agreement recorded.",
        "rai:dataUseCases": sections.get("Uses", ""),
        "rai:dataLimitations": "Labels are readers' consensus, not pathology; the cohort is "
        "a referral population; about a fifth of exams are clinically borderline.",
        "rai:dataBiases": "Six centres and four camera vendors; age and sex follow the "
        "referral population, not the general population.",
        "rai:personalSensitiveInformation": "Health data, de-identified per DICOM PS3.15 "
        "Annex E and checked by an independent verifier; age, sex, weight and shifted dates "
        "remain.",
        "rai:dataSocialImpact": "Supports reproducible research on DaT-SPECT reading; must "
        "not be used for individual clinical decisions.",
        "rai:dataReleaseMaintenancePlan": sections.get("Maintenance", ""),
        "distribution": distribution,
        "recordSet": record_sets,
    }
