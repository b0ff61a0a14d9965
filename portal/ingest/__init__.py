"""``portal ingest``: export → validated, de-identified, independently verified staging.

``staging`` runs the stage; it calls :mod:`portal.deid` to de-identify and
:mod:`portal.verify_deid` to check the result.
"""
