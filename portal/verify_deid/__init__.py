"""The independent de-identification verifier (``portal verify-deid``) and its own DICOM reader.

It imports nothing from :mod:`portal.deid` (``tests/test_boundaries.py``): a bug in the
de-identifier cannot hide itself from the check.
"""
