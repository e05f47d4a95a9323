"""An S3-compatible bucket as a source (``s3://bucket/prefix``), through boto3.

boto3 finds the credentials and the endpoint as every AWS tool does: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` (or a profile, or an instance role), and ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_S3``) for an S3-compatible server such as MinIO. Nothing of them is stored.

The mirror holds each object under its key and a list of the ETags it was fetched at: an object
whose ETag is unchanged is not fetched again, so its file keeps its size and time and the ingest
that follows does not read it either. (An object's LastModified has whole seconds: a rewrite of
the same size within a second would look unchanged by it, so the file's time is its fetch's.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InputError
from ..events import Progress, Waiting
from .naming import Copy

ETAGS = "etags.json"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


class S3Source:
    def __init__(self, url: str):
        rest = url.split("://", 1)[1]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise InputError(f"{url} names no bucket; write s3://BUCKET or s3://BUCKET/PREFIX/")
        self.url = url
        self.bucket = bucket
        self.key_prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.prefix = f"s3://{bucket}/"

    def _client(self) -> Any:
        from ..extras import require

        require("s3", why="documents from an S3 bucket")
        import boto3

        return boto3.client("s3")

    def mirror(
        self, files: Path, state: Path, emit: Progress, max_bytes: int = 100_000_000
    ) -> tuple[Path, Copy]:
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        root = files / self.key_prefix if self.key_prefix else files
        root.mkdir(parents=True, exist_ok=True)
        for partial in files.rglob(".*.partial"):  # what a fetch cut short left
            partial.unlink()
        etags_file = state / ETAGS
        held: dict[str, str] = json.loads(etags_file.read_text()) if etags_file.exists() else {}
        client = self._client()
        try:
            listed: dict[str, dict[str, Any]] = {}
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.key_prefix
            ):
                for obj in page.get("Contents", []):
                    if (
                        not obj["Key"].endswith("/") and obj.get("Size", 0) <= max_bytes
                    ):  # larger: passed over
                        listed[obj["Key"]] = obj
            fetched = 0
            for key, obj in listed.items():
                target = files / key
                if held.get(key) == obj["ETag"] and target.exists():
                    continue
                if fetched == 0:
                    emit(Waiting(f"fetching what changed in {self.url}"))
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_name(f".{target.name}.partial")
                client.download_file(self.bucket, key, str(partial))
                partial.replace(target)  # its time is now's: the ingest sees it changed, however fast
                held[key] = obj["ETag"]
                fetched += 1
        except NoCredentialsError:
            raise ConfigError(
                f"no credentials for {self.url}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
                "(or AWS_PROFILE) in the environment"
            ) from None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "ExpiredToken"):
                raise ConfigError(
                    f"the bucket {self.bucket} refused the credentials ({code}); check AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY; nothing was changed"
                ) from None
            if code in ("NoSuchBucket", "404"):
                raise InputError(
                    f"there is no bucket {self.bucket} at this endpoint; nothing was changed"
                ) from None
            raise ConfigError(f"{self.url}: {code or _one_line(exc)}; nothing was changed") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach {self.url} ({_one_line(exc)}); nothing was changed") from None
        finally:
            etags_file.write_text(json.dumps(held))
        for path in [p for p in files.rglob("*") if p.is_file()]:  # gone from the bucket: gone here
            key = path.relative_to(files).as_posix()
            if key.startswith(self.key_prefix) and key not in listed:
                path.unlink()
                held.pop(key, None)
        etags_file.write_text(json.dumps(held))
        return root, Copy(files, self.prefix, shown=self.prefix)
