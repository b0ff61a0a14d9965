"""The independent verifier of tabular releases.

It shares no code with ``portal.tabular.deid`` or ``portal.tabular.contract``, and imports
nothing else of the portal (a test checks it): it reads the raw export with its own
reader, its own list of identifying columns, and recomputes k and ℓ itself.
"""

from portal.tabular.verify.checks import RiskPolicy, Verification, summary, verify_tabular

__all__ = ["RiskPolicy", "Verification", "summary", "verify_tabular"]
