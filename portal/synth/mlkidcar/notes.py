"""French operative notes (comptes rendus opératoires), as surgeons dictate them.

They are free text full of identifying data on purpose: the patient's name and birth
date, the IPP, the hospital and its operating room, the surgeon, the anaesthetist and
the assistants, dates and times, the town the patient came from, a relative's phone.
"""

from __future__ import annotations

import numpy as np

from portal.synth.identity import FEMALE_FIRST, MALE_FIRST, SURNAMES, pick
from portal.synth.mlkidcar.cohort import Surgery

MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)


def french_date(day) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def operative_note(rng: np.random.Generator, s: Surgery) -> str:
    p = s.patient
    civility = "M." if p.sex == "M" else "Mme"
    née = f" née {p.birth_name.upper()}" if p.birth_name != p.family else ""
    assistant = f"Dr {pick(rng, MALE_FIRST + FEMALE_FIRST)} {pick(rng, SURNAMES).upper()}"
    lines = [
        f"COMPTE RENDU OPÉRATOIRE - {p.centre.institution}",
        f"Patient : {civility} {p.family.upper()}{née} {p.given}, "
        f"né(e) le {p.birth_date:%d/%m/%Y}, IPP {p.ipp}",
        f"Intervention du {french_date(s.start)} en {s.room}, début {s.start:%Hh%M}, "
        f"fin {s.end:%Hh%M}.",
        f"Opérateur : {s.surgeon}. Aide : {assistant}. Anesthésiste : {s.anaesthetist}.",
        f"Indication : {s.procedure_detail} ({s.urgency}), EuroSCORE II {s.euroscore:.1f} %. "
        f"Patient{'e' if p.sex == 'F' else ''} adressé{'e' if p.sex == 'F' else ''} "
        f"par le Dr {pick(rng, SURNAMES)} de {p.town.name}.",
    ]
    if s.cpb_minutes:
        lines.append(
            f"Sternotomie médiane. CEC aorto-atriale, durée {s.cpb_minutes} min, "
            f"clampage aortique {s.cross_clamp_minutes} min. Cardioplégie froide."
        )
    else:
        lines.append("Sternotomie médiane. Pontages à cœur battant, sans CEC.")
    if s.rbc_units:
        lines.append(
            f"Transfusion de {s.rbc_units} CGR. Hématocrite le plus bas {s.lowest_haematocrit} %."
        )
    if s.max_norepinephrine > 0:
        lines.append(f"Sevrage sous noradrénaline jusqu'à {s.max_norepinephrine:.2f} µg/kg/min.")
    if rng.random() < 0.4:
        relative = pick(rng, FEMALE_FIRST if p.sex == "M" else MALE_FIRST)
        lines.append(
            f"Famille prévenue ({relative}, tél. {p.phone[:2]} {p.phone[2:4]} {p.phone[4:6]} "
            f"{p.phone[6:8]} {p.phone[8:]})."
        )
    lines.append(f"Transfert en réanimation à {s.end:%H:%M} le {s.end:%d/%m/%Y}. {s.surgeon}")
    return "\n".join(lines)
