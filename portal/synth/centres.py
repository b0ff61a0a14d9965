"""The centres of the synthetic DaT-Park challenge and their SPECT systems.

Each centre differs the way real sites do: camera vendor and model, pixel size,
spatial resolution after reconstruction, count level, attenuation correction,
reconstruction and pixel-value scaling, and the vendor's private tags. These
differences are what a model has to be robust to across centres.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.synth.identity import Town


@dataclass(frozen=True)
class PrivateBlock:
    """A vendor private block: the creator string and its group."""

    group: int
    creator: str


@dataclass(frozen=True)
class Centre:
    """A participating hospital and the SPECT system its exams come from."""

    key: str
    institution: str
    department: str
    address: str
    station: str
    ae_title: str
    towns: tuple[Town, ...]
    manufacturer: str
    model: str
    software: str
    serial: str
    collimator: str
    pixel_spacing_mm: float  # at the default 128 x 128 x 64 matrix
    fwhm_mm: float  # reconstructed resolution in the striatum
    counts_per_voxel: float  # mean expected counts in brain background
    attenuation: str  # "CT", "Chang" or "none"
    recon: str
    value_scale: float  # vendor pixel-value scaling after reconstruction
    private: PrivateBlock
    uid_root: str
    ipp_prefix: str
    weight: float  # share of the challenge's exams


CENTRES: tuple[Centre, ...] = (
    Centre(
        key="lille",
        institution="CHU de Lille - Hôpital Roger Salengro",
        department="Service de Médecine Nucléaire",
        address="Avenue du Professeur Émile Laine, 59037 Lille Cedex",
        station="LIL-NM-INTEVO2",
        ae_title="LILNMINTEVO2",
        towns=(
            Town("Lille", "59000", "03"),
            Town("Roubaix", "59100", "03"),
            Town("Tourcoing", "59200", "03"),
            Town("Villeneuve-d'Ascq", "59650", "03"),
        ),
        manufacturer="SIEMENS NM",
        model="Symbia Intevo Bold",
        software="VA10A",
        serial="1472",
        collimator="LEHR",
        pixel_spacing_mm=3.30,
        fwhm_mm=10.0,
        counts_per_voxel=42.0,
        attenuation="CT",
        recon="Flash3D 8i4s",
        value_scale=1.0,
        private=PrivateBlock(0x0033, "SIEMENS MED NM"),
        uid_root="1.3.12.2.1107.5.6.1.1472.",
        ipp_prefix="59",
        weight=0.24,
    ),
    Centre(
        key="lyon",
        institution="Hospices Civils de Lyon - Hôpital Pierre Wertheimer",
        department="Médecine Nucléaire - Neurologie",
        address="59 boulevard Pinel, 69500 Bron",
        station="HCL_NM670",
        ae_title="HCLNM670",
        towns=(
            Town("Lyon", "69003", "04"),
            Town("Villeurbanne", "69100", "04"),
            Town("Vénissieux", "69200", "04"),
            Town("Bron", "69500", "04"),
        ),
        manufacturer="GE MEDICAL SYSTEMS",
        model="Discovery NM/CT 670",
        software="Xeleris 4.1",
        serial="NM670-2231",
        collimator="LEHR",
        pixel_spacing_mm=2.95,
        fwhm_mm=11.0,
        counts_per_voxel=35.0,
        attenuation="CT",
        recon="OSEM 4i10s Butterworth",
        value_scale=1.0,
        private=PrivateBlock(0x0011, "GEMS_GENIE_1"),
        uid_root="1.2.840.113619.2.280.2231.",
        ipp_prefix="69",
        weight=0.22,
    ),
    Centre(
        key="bordeaux",
        institution="CHU de Bordeaux - Hôpital Pellegrin",
        department="Service de Médecine Nucléaire",
        address="Place Amélie Raba-Léon, 33076 Bordeaux Cedex",
        station="BDX-BRIGHTVIEW",
        ae_title="BDXBRIGHTVIEW",
        towns=(
            Town("Bordeaux", "33000", "05"),
            Town("Mérignac", "33700", "05"),
            Town("Pessac", "33600", "05"),
            Town("Libourne", "33500", "05"),
        ),
        manufacturer="Philips Medical Systems",
        model="BrightView XCT",
        software="Astonish 2.0",
        serial="BV-0391",
        collimator="LEHR",
        pixel_spacing_mm=3.90,
        fwhm_mm=12.5,
        counts_per_voxel=55.0,
        attenuation="Chang",
        recon="Astonish 4i16s",
        value_scale=0.5,
        private=PrivateBlock(0x0019, "ADAC_IMG"),
        uid_root="1.3.46.670589.5.2.391.",
        ipp_prefix="33",
        weight=0.17,
    ),
    Centre(
        key="paris",
        institution="AP-HP Pitié-Salpêtrière",
        department="Médecine Nucléaire",
        address="47-83 boulevard de l'Hôpital, 75013 Paris",
        station="PSL-SYMBIAT2",
        ae_title="PSLSYMBIAT2",
        towns=(
            Town("Paris", "75013", "01"),
            Town("Ivry-sur-Seine", "94200", "01"),
            Town("Vitry-sur-Seine", "94400", "01"),
            Town("Montreuil", "93100", "01"),
        ),
        manufacturer="SIEMENS NM",
        model="Symbia T2",
        software="VB10B",
        serial="1088",
        collimator="LEHR",
        pixel_spacing_mm=2.46,
        fwhm_mm=9.5,
        counts_per_voxel=22.0,
        attenuation="CT",
        recon="Flash3D 10i8s",
        value_scale=2.0,
        private=PrivateBlock(0x0033, "SIEMENS MED NM"),
        uid_root="1.3.12.2.1107.5.6.1.1088.",
        ipp_prefix="75",
        weight=0.19,
    ),
    Centre(
        key="toulouse",
        institution="CHU de Toulouse - Hôpital Purpan",
        department="Service de Médecine Nucléaire",
        address="Place du Docteur Baylac, 31059 Toulouse Cedex 9",
        station="TLS_INFINIA",
        ae_title="TLSINFINIA",
        towns=(
            Town("Toulouse", "31000", "05"),
            Town("Colomiers", "31770", "05"),
            Town("Blagnac", "31700", "05"),
            Town("Muret", "31600", "05"),
        ),
        manufacturer="GE MEDICAL SYSTEMS",
        model="Infinia Hawkeye 4",
        software="Xeleris 3.1",
        serial="INF-7712",
        collimator="LEHR",
        pixel_spacing_mm=3.68,
        fwhm_mm=13.5,
        counts_per_voxel=30.0,
        attenuation="none",
        recon="FBP Butterworth 0.45",
        value_scale=1.0,
        private=PrivateBlock(0x0011, "GEMS_GENIE_1"),
        uid_root="1.2.840.113619.2.280.7712.",
        ipp_prefix="31",
        weight=0.10,
    ),
    Centre(
        key="rennes",
        institution="CHU de Rennes - Hôpital Pontchaillou",
        department="Service de Médecine Nucléaire",
        address="2 rue Henri Le Guilloux, 35033 Rennes Cedex 9",
        station="RNS-ANYSCAN",
        ae_title="RNSANYSCAN",
        towns=(
            Town("Rennes", "35000", "02"),
            Town("Saint-Malo", "35400", "02"),
            Town("Vitré", "35500", "02"),
            Town("Fougères", "35300", "02"),
        ),
        manufacturer="Mediso",
        model="AnyScan SC",
        software="InterView XP 3.08",
        serial="AS-0217",
        collimator="LEHR",
        pixel_spacing_mm=2.21,
        fwhm_mm=8.5,
        counts_per_voxel=18.0,
        attenuation="Chang",
        recon="Tera-Tomo 3D 12i6s",
        value_scale=4.0,
        private=PrivateBlock(0x0071, "MEDISO NUCLINE 1.0"),
        uid_root="1.2.348.0.2.217.",
        ipp_prefix="35",
        weight=0.08,
    ),
)
