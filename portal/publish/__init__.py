"""``portal publish``: mirror a release to a folder, S3-compatible storage or the Hugging Face Hub.

Targets are chosen from a table by the address scheme (``dir://``, ``s3://``, ``hf://``).
"""
