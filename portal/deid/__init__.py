"""De-identification, as ingest runs it.

``profile`` (DICOM PS3.15 Annex E plus the card's options), ``from_dataset`` (a pydicom
dataset), ``from_bytes`` (the fast path, straight from the file's bytes), ``encoder``
(serialise the result), ``keys`` (the pseudonymisation key).

Nothing here imports :mod:`portal.verify_deid`, and nothing there imports this package
(``tests/test_boundaries.py``): the verifier must not share the de-identifier's code path.
"""
