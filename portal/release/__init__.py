"""``portal release``: verified staging → an immutable, citable, checksummed release.

``build`` runs the stage; beside it, what a release carries: the data card (``cards``),
``manifest`` (also ``portal verify``), ``versions``, label ``commitment``\\ s, ``citation``
and ``croissant`` metadata.
"""
