"""Fake but realistic French identities, for the headers hospitals really send.

Every value made here is identifying *on purpose*: the synthetic export must be
as hard to de-identify as a real one, so names carry accents, particles and
hyphens, addresses and phone numbers follow French formats, and identifiers
follow the shapes hospital systems use (IPP, accession numbers, NIR).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

MALE_FIRST = [
    "Jean-Claude",
    "Jean-Pierre",
    "Jean-Luc",
    "Michel",
    "André",
    "Philippe",
    "Alain",
    "Bernard",
    "Jacques",
    "Daniel",
    "Gérard",
    "Claude",
    "René",
    "Roger",
    "Marcel",
    "Christian",
    "Patrick",
    "Serge",
    "François",
    "Henri",
    "Robert",
    "Yves",
    "Guy",
    "Maurice",
    "Georges",
    "Joseph",
    "Raymond",
    "Lucien",
    "Gilbert",
    "Bruno",
    "Thierry",
    "Éric",
    "Didier",
    "Pascal",
    "Hervé",
    "Joël",
    "Gilles",
    "Régis",
    "Noël",
    "Étienne",
    "Frédéric",
    "Laurent",
    "Olivier",
    "Christophe",
    "Stéphane",
    "Jérôme",
]
FEMALE_FIRST = [
    "Jeanne",
    "Françoise",
    "Monique",
    "Catherine",
    "Nathalie",
    "Isabelle",
    "Jacqueline",
    "Anne",
    "Sylvie",
    "Martine",
    "Nicole",
    "Christiane",
    "Danielle",
    "Hélène",
    "Suzanne",
    "Madeleine",
    "Simone",
    "Denise",
    "Yvette",
    "Josiane",
    "Colette",
    "Odette",
    "Geneviève",
    "Brigitte",
    "Chantal",
    "Annie",
    "Michèle",
    "Évelyne",
    "Claudine",
    "Paulette",
    "Huguette",
    "Ginette",
    "Marie-Thérèse",
    "Marie-Claude",
    "Béatrice",
    "Agnès",
    "Véronique",
    "Pascale",
    "Régine",
    "Solange",
]
SURNAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Lefebvre",
    "Leroy",
    "Roux",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèvre",
    "Faure",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Lemaire",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Roche",
    "Renard",
    "Schmitt",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Bourgeois",
    "Benoît",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Lecomte",
    "Lopez",
    "Dupuis",
    "Guillot",
    "Hubert",
    "Berger",
    "Carpentier",
    "Sanchez",
    "Dupuy",
    "Moulin",
    "Deschamps",
    "Huet",
    "Vasseur",
    "Perez",
    "Boucher",
    "Fleury",
    "Royer",
    "Klein",
    "Jacquet",
    "Poirier",
    "Marty",
    "Aubry",
    "Guyot",
    "Carré",
    "Renault",
    "Charpentier",
    "Ménard",
    "Maillard",
    "Baron",
    "Bertin",
    "Bailly",
    "Schneider",
    "Fernandez",
    "Collet",
    "Léger",
    "Bouvier",
    "Prévost",
    "Millet",
    "Perrot",
    "Cousin",
    "Germain",
    "Breton",
    "Besson",
    "Langlois",
    "Pelletier",
    "Lévêque",
    "Perrier",
    "Leblanc",
    "Barré",
    "Lebrun",
    "Marchal",
    "Weber",
    "Mallet",
    "Hamon",
    "Boulanger",
    "Monnier",
    "Michaud",
    "Guichard",
    "Gillet",
    "Tessier",
    "Chauvin",
    "Bouchet",
    "Lemaître",
    "Bénard",
    "Maréchal",
    "Humbert",
    "Reynaud",
    "Hoarau",
    "Barthélemy",
    "Cordier",
    "Pichon",
    "Lejeune",
    "Pasquier",
    "Carlier",
    "Laporte",
    "Le_Gall",
    "Le_Goff",
    "Le_Roux",
    "Da_Silva",
    "De_La_Fontaine",
    "Saint-Martin",
]
SURNAMES = tuple(name.replace("_", " ") for name in SURNAMES)

STREETS = (
    "rue de la République",
    "avenue Jean Jaurès",
    "rue Victor Hugo",
    "boulevard Gambetta",
    "rue Pasteur",
    "place de la Mairie",
    "rue du Général de Gaulle",
    "chemin des Vignes",
    "allée des Tilleuls",
    "impasse des Lilas",
    "rue des Écoles",
    "route de la Gare",
    "rue Jules Ferry",
    "avenue de la Libération",
    "rue du Moulin",
    "rue Émile Zola",
    "rue de l'Église",
    "avenue des Peupliers",
    "rue Saint-Exupéry",
    "quai des Tanneurs",
)


@dataclass(frozen=True)
class Town:
    """A town near a centre, where its patients live."""

    name: str
    postcode: str
    phone_prefix: str


@dataclass(frozen=True)
class Person:
    """A person as the hospital information system knows them."""

    family: str
    given: str
    sex: str  # "M" or "F"
    birth_name: str  # maiden name for married women, else the family name
    birth_date: dt.date
    address: str
    phone: str
    nir: str  # French social security number (13 digits + 2-digit key)

    @property
    def dicom_name(self) -> str:
        """The DICOM PN form, family name upper-case as French HIS systems send it."""
        return f"{self.family.upper()}^{self.given}"

    @property
    def display_name(self) -> str:
        civility = "M." if self.sex == "M" else "Mme"
        return f"{civility} {self.given} {self.family.upper()}"


def pick(rng: np.random.Generator, items: tuple[str, ...] | list[str]) -> str:
    return items[int(rng.integers(len(items)))]


def physician_name(rng: np.random.Generator) -> str:
    """A physician in DICOM PN form, with the 'Dr' prefix hospitals put in the fourth slot."""
    given = pick(rng, FEMALE_FIRST if rng.random() < 0.5 else MALE_FIRST)
    return f"{pick(rng, SURNAMES).upper()}^{given}^^Dr"


def phone_number(rng: np.random.Generator, prefix: str) -> str:
    if rng.random() < 0.4:  # a mobile number
        prefix = "06" if rng.random() < 0.6 else "07"
    digits = "".join(str(int(d)) for d in rng.integers(0, 10, size=8))
    return prefix + digits


def nir_number(rng: np.random.Generator, sex: str, birth: dt.date, postcode: str) -> str:
    """A NIR with a valid key: 97 minus the 13-digit number modulo 97."""
    department = postcode[:2]
    commune = f"{int(rng.integers(1, 990)):03d}"
    order = f"{int(rng.integers(1, 999)):03d}"
    body = f"{1 if sex == 'M' else 2}{birth.year % 100:02d}{birth.month:02d}"
    body += f"{department}{commune}{order}"
    key = 97 - int(body) % 97
    return f"{body}{key:02d}"


def make_person(rng: np.random.Generator, sex: str, birth_date: dt.date, town: Town) -> Person:
    given = pick(rng, MALE_FIRST if sex == "M" else FEMALE_FIRST)
    family = pick(rng, SURNAMES)
    birth_name = family
    if sex == "F" and rng.random() < 0.7:
        birth_name = pick(rng, SURNAMES)
    number = int(rng.integers(1, 180))
    address = f"{number} {pick(rng, STREETS)}, {town.postcode} {town.name}"
    return Person(
        family=family,
        given=given,
        sex=sex,
        birth_name=birth_name,
        birth_date=birth_date,
        address=address,
        phone=phone_number(rng, town.phone_prefix),
        nir=nir_number(rng, sex, birth_date, town.postcode),
    )
