"""What a challenge platform hands over: the export contract, checked in full before any work.

The first stage of the pipeline reads it (``portal ingest``); nothing here reads a
later stage.
"""
