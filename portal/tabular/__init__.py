"""The tabular modality: patient tables, laboratory values and minute-level signals.

``contract`` reads and validates an export (docs/tabular-export.md); ``deid`` de-identifies
it and bounds its re-identification risk; ``verify`` checks the result independently
and shares no code with ``deid`` or ``contract`` (a test checks the imports).
"""
