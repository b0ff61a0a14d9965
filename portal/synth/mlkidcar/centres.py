"""The cardiac-surgery centres of the synthetic ML-KIDCAR challenge.

Centres differ the way real ones do: size, case mix (a small centre does a few rare
procedures that single its patients out), the monitors whose exports they send and how
often those drop out or produce artefacts, and the identifiers of their information
systems (IPP and stay-number formats, operating-room names, staff).
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.synth.identity import Town


@dataclass(frozen=True)
class Centre:
    """A participating cardiac-surgery department."""

    key: str
    institution: str
    department: str
    city: str
    towns: tuple[Town, ...]
    rooms: tuple[str, ...]
    surgeons: tuple[str, ...]
    anaesthetists: tuple[str, ...]
    monitor: str
    ipp_prefix: str  # IPP = prefix + digits
    ipp_digits: int
    stay_prefix: str  # numéro de séjour (NDA)
    weight: float  # share of the challenge's surgeries
    gap_rate: float  # monitor disconnections per hour
    artefact_rate: float  # artefacts (line flush, probe off, double counting) per hour
    aortic_share: float  # share of aortic surgery in this centre's case mix
    other_share: float  # share of rare procedures


CENTRES: tuple[Centre, ...] = (
    Centre(
        key="lille",
        institution="CHU de Lille - Institut Cœur Poumon",
        department="Service de chirurgie cardiaque",
        city="Lille",
        towns=(
            Town("Lille", "59000", "03"),
            Town("Roubaix", "59100", "03"),
            Town("Tourcoing", "59200", "03"),
            Town("Arras", "62000", "03"),
            Town("Lens", "62300", "03"),
        ),
        rooms=("Bloc CCV salle 1", "Bloc CCV salle 2", "Bloc CCV salle 3", "Bloc CCV salle 4"),
        surgeons=("Pr Vincent LEFEBVRE", "Dr Hélène DUMONT", "Dr Karim BENSAÏD", "Dr Paul ROUSSEL"),
        anaesthetists=("Dr Sophie CARLIER", "Dr Antoine DELATTRE", "Dr Nadia HAMDI"),
        monitor="Philips IntelliVue MX800",
        ipp_prefix="59",
        ipp_digits=8,
        stay_prefix="LIL",
        weight=0.30,
        gap_rate=0.25,
        artefact_rate=0.8,
        aortic_share=0.10,
        other_share=0.02,
    ),
    Centre(
        key="bordeaux",
        institution="CHU de Bordeaux - Hôpital Haut-Lévêque",
        department="Service de chirurgie cardiaque et vasculaire",
        city="Pessac",
        towns=(
            Town("Bordeaux", "33000", "05"),
            Town("Pessac", "33600", "05"),
            Town("Mérignac", "33700", "05"),
            Town("Libourne", "33500", "05"),
            Town("Arcachon", "33120", "05"),
        ),
        rooms=("HL Bloc B - Salle 5", "HL Bloc B - Salle 6", "HL Bloc B - Salle 7"),
        surgeons=("Pr Marc LABROUSSE", "Dr Claire PEYRÉ", "Dr Julien ESTÈVE"),
        anaesthetists=("Dr Laurence MAZIÈRES", "Dr Olivier TESTUD", "Dr Inès GARAT"),
        monitor="GE CARESCAPE B850",
        ipp_prefix="33",
        ipp_digits=9,
        stay_prefix="BDX",
        weight=0.27,
        gap_rate=0.15,
        artefact_rate=0.6,
        aortic_share=0.09,
        other_share=0.02,
    ),
    Centre(
        key="rennes",
        institution="CHU de Rennes - Hôpital Pontchaillou",
        department="Service de chirurgie thoracique et cardiovasculaire",
        city="Rennes",
        towns=(
            Town("Rennes", "35000", "02"),
            Town("Saint-Malo", "35400", "02"),
            Town("Vitré", "35500", "02"),
            Town("Fougères", "35300", "02"),
        ),
        rooms=("Pontchaillou CTCV 1", "Pontchaillou CTCV 2", "Pontchaillou CTCV 3"),
        surgeons=("Pr Erwan LE GUEN", "Dr Anne-Sophie KERVAREC", "Dr Yann MORVAN"),
        anaesthetists=("Dr Gaëlle TANGUY", "Dr Loïc QUÉRÉ"),
        monitor="Dräger Infinity Delta",
        ipp_prefix="35",
        ipp_digits=8,
        stay_prefix="REN",
        weight=0.22,
        gap_rate=0.35,
        artefact_rate=1.0,
        aortic_share=0.08,
        other_share=0.02,
    ),
    Centre(
        key="strasbourg",
        institution="Hôpitaux universitaires de Strasbourg - Nouvel Hôpital Civil",
        department="Service de chirurgie cardiovasculaire",
        city="Strasbourg",
        towns=(
            Town("Strasbourg", "67000", "03"),
            Town("Haguenau", "67500", "03"),
            Town("Sélestat", "67600", "03"),
            Town("Colmar", "68000", "03"),
        ),
        rooms=("NHC Bloc cardiaque 01", "NHC Bloc cardiaque 02"),
        surgeons=("Pr Thomas KIEFFER", "Dr Mathilde SCHWEITZER", "Dr Luc OBERLIN"),
        anaesthetists=("Dr Céline WALTER", "Dr Frédéric HEITZ"),
        monitor="Philips IntelliVue MX750",
        ipp_prefix="67",
        ipp_digits=10,
        stay_prefix="HUS",
        weight=0.15,
        gap_rate=0.2,
        artefact_rate=0.7,
        aortic_share=0.07,
        other_share=0.01,
    ),
    Centre(
        key="bastia",
        institution="Centre hospitalier de Bastia",
        department="Unité de chirurgie cardiaque",
        city="Bastia",
        towns=(
            Town("Bastia", "20200", "04"),
            Town("Corte", "20250", "04"),
            Town("Calvi", "20260", "04"),
        ),
        rooms=("Bloc A salle cardio",),
        surgeons=("Dr Jean-Marie SANTONI",),
        anaesthetists=("Dr Pauline CASANOVA",),
        monitor="Mindray BeneVision N17",
        ipp_prefix="2B",
        ipp_digits=7,
        stay_prefix="BIA",
        weight=0.06,
        gap_rate=0.5,
        artefact_rate=1.3,
        aortic_share=0.03,
        other_share=0.05,
    ),
)


def centre_named(key: str) -> Centre:
    for centre in CENTRES:
        if centre.key == key:
            return centre
    raise KeyError(key)
