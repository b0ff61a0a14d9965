"""``portal ingest``: export → validated, de-identified, independently verified staging.

``staging`` runs the stage; it calls :mod:`portal.deid.from_dataset` to de-identify and
:mod:`portal.verify_deid` to check the result.
"""
