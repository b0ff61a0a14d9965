"""S3 or any S3-compatible store: ``s3://bucket/prefix`` holds ``<prefix>/<challenge>/<version>/``.

Credentials come from boto3's chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``~/.aws``, an instance role), never from the portal's options; the endpoint from
``--endpoint-url`` or ``AWS_ENDPOINT_URL_S3``/``AWS_ENDPOINT_URL``.
"""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from portal.errors import ConfigError, PublishError
from portal.publish.target import Held, Item, Target

S3_MAX_PUT = 5 * 1024**3  # one PUT; larger files would need a multipart upload


def _b64_to_hex(value: str) -> str | None:
    try:
        return base64.b64decode(value).hex()
    except ValueError:
        return None


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class S3Target(Target):
    """Each object is sent with its sha256 as ``x-amz-checksum-sha256``: the store checks
    the bytes it received against the manifest's hash and refuses a mismatch, and later
    reports that checksum back, so verification needs no download.
    """

    scheme = "s3"
    remote = True

    def __init__(
        self,
        bucket: str,
        prefix: str,
        challenge: str,
        version: str,
        *,
        endpoint_url: str | None,
        workers: int,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.base = "/".join(p for p in (prefix.strip("/"), challenge, version) if p) + "/"
        self.url = f"s3://{bucket}/{self.base}"
        self.endpoint_url = endpoint_url
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                retries={"max_attempts": 5, "mode": "standard"},
                max_pool_connections=max(10, workers),
                # only send a checksum when asked to: the portal always asks for SHA256
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self.workers = workers

    @classmethod
    def open(
        cls,
        address: str,
        challenge: str,
        version: str,
        *,
        endpoint_url: str | None = None,
        workers: int = 8,
        **_options,
    ) -> S3Target:
        bucket, _, prefix = address.partition("/")
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ConfigError(
                f"{bucket!r} is not a valid S3 bucket name.",
                hint="3 to 63 lower-case letters, digits, dots and hyphens: s3://bucket/prefix.",
            )
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
        )
        return cls(bucket, prefix, challenge, version, endpoint_url=endpoint, workers=workers)

    def _call(self, what: str, function, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        try:
            return function(**kwargs)
        except NoCredentialsError:
            raise ConfigError(
                f"{what} on {self.url}: no S3 credentials found.",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the "
                "environment; never on the command line or in a committed file.",
            ) from None
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchBucket", "404") and what == "listing":
                raise ConfigError(
                    f"bucket {self.bucket} does not exist{where}.",
                    hint="create it first (the store's admin tool, or "
                    "`aws s3 mb s3://<bucket> --endpoint-url <url>`), then publish again.",
                ) from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                raise ConfigError(
                    f"{what} on {self.url}: the store refused the credentials ({code}).",
                    hint="check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and that this identity "
                    "may list and write the bucket.",
                ) from None
            raise PublishError(f"{what} on {self.url} failed: {code}.") from None
        except BotoCoreError as error:
            raise PublishError(
                f"{what} on {self.url}{where} failed: {type(error).__name__}.",
                hint="check the endpoint URL (--endpoint-url or AWS_ENDPOINT_URL) and that the "
                "store is up; publishing again resumes.",
            ) from None

    def listing(self) -> dict[str, Held]:
        keys: dict[str, tuple[int, str]] = {}
        token = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(
                "listing",
                self.client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=self.base,
                **extra,
            )
            for obj in page.get("Contents", []):
                keys[obj["Key"][len(self.base) :]] = (obj["Size"], obj.get("ETag", ""))
            if not page.get("IsTruncated"):
                break
            token = page["NextContinuationToken"]

        def head(path: str) -> tuple[str, Held]:
            meta = self._call(
                "reading the checksum",
                self.client.head_object,
                Bucket=self.bucket,
                Key=self.base + path,
                ChecksumMode="ENABLED",
            )
            checked = meta.get("ChecksumSHA256")
            return path, Held(
                size=keys[path][0],
                etag=keys[path][1].strip('"') or None,
                sha256=_b64_to_hex(checked) if checked and "-" not in checked else None,
                git_sha1=None,
            )

        with ThreadPoolExecutor(self.workers) as pool:
            held = dict(pool.map(head, sorted(keys)))
        return held

    def same(self, item: Item, held: Held) -> bool:
        if held.size != item.size:
            return False
        if held.sha256 is not None:  # the store checked these bytes on receipt
            return held.sha256 == item.sha256
        if held.etag and "-" not in held.etag:  # a store without checksums: the MD5 it computed
            return held.etag == _md5(item.local)
        return False  # nothing the store vouches for: send it again

    def put(self, item: Item) -> None:
        if item.size > S3_MAX_PUT:
            raise PublishError(
                f"{item.path}: {item.size} bytes is over the 5 GiB of one S3 PUT.",
                hint="split the release into smaller shards (the release's shard size).",
            )
        kind = mimetypes.guess_type(item.path)[0] or "application/octet-stream"
        with open(item.local, "rb") as body:
            self._call(
                f"uploading {item.path}",
                self.client.put_object,
                Bucket=self.bucket,
                Key=self.base + item.path,
                Body=body,
                ContentLength=item.size,
                ContentType=kind,
                ChecksumSHA256=base64.b64encode(bytes.fromhex(item.sha256)).decode(),
                Metadata={"sha256": item.sha256},
            )

    def remove(self, path: str) -> None:
        self._call(
            f"removing {path}", self.client.delete_object, Bucket=self.bucket, Key=self.base + path
        )
