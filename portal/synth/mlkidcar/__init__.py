"""A synthetic ML-KIDCAR export: acute kidney injury after cardiac surgery.

Synthetic data, no real patient. The export follows the tabular export contract
(docs/tabular-export.md): a static table per surgery, minute-level intra-operative
signals, post-operative creatinine and the KDIGO label, and the identifying data
hospitals send with them (names, IPP, NIR, addresses, dates, staff, operative notes).
"""
