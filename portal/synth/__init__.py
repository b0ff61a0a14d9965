"""Synthetic challenge exports, the embedded default input of the portal."""
