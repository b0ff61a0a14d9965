"""The open challenge portal: de-identify, release, reproduce and publish challenge data."""

__version__ = "0.1.0"
