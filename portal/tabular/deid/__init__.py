"""Tabular de-identification: pseudonyms, date shifts, removal, k-anonymity and ℓ-diversity.

Shares no code with ``portal.tabular.verify`` (a test checks the imports both ways).
"""

from portal.tabular.deid.policy import Policy
from portal.tabular.deid.tables import DeidSummary, deidentify

__all__ = ["DeidSummary", "Policy", "deidentify"]
