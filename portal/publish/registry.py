"""The publishing targets, by address scheme: one table, one interface.

Adding a kind of storage is one module with a :class:`~portal.publish.target.Target`
subclass and one line here; the publication itself never asks which kind it holds.
"""

from __future__ import annotations

from portal.errors import ConfigError
from portal.publish.folder import FolderTarget
from portal.publish.hub import HubTarget
from portal.publish.s3 import S3Target
from portal.publish.target import Target

TARGETS: dict[str, type[Target]] = {
    FolderTarget.scheme: FolderTarget,
    S3Target.scheme: S3Target,
    HubTarget.scheme: HubTarget,
}


def open_target(
    url: str,
    challenge: str,
    version: str,
    *,
    endpoint_url: str | None = None,
    workers: int = 8,
    api=None,
) -> Target:
    """Parse ``dir://…``, ``s3://bucket/prefix`` or ``hf://org/name`` into a target."""
    scheme, sep, address = url.partition("://")
    kind = TARGETS.get(scheme) if sep else None
    if kind is None:
        raise ConfigError(
            f"unknown publishing target {url!r}.",
            hint="use dir:///path/to/mirror, s3://bucket/prefix or hf://org/name.",
        )
    host = address.split("/", 1)[0]
    if kind.remote and ("@" in host or ":" in host):
        raise ConfigError(
            f"the {scheme}:// target holds credentials or a port; they are not shown here.",
            hint="give credentials through the environment (AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY, HF_TOKEN) and a store's address with --endpoint-url.",
        )
    return kind.open(
        address, challenge, version, endpoint_url=endpoint_url, workers=workers, api=api
    )
