"""The raw archive in an S3 bucket, through prefect-aws's S3Bucket block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from botocore.exceptions import ClientError
from prefect_aws import AwsClientParameters, AwsCredentials
from prefect_aws.s3 import S3Bucket
from pydantic import SecretStr

from tasks.archive import ArchiveError, ObjectExists


class S3Archive:
    """Write-once raw objects under a folder of an S3 bucket.

    Keys and bytes are the same as in the local folder archive; the bucket folder is
    prefixed to every key and stripped from every listed one.
    """

    def __init__(self, bucket: S3Bucket) -> None:
        self.bucket = bucket
        self.folder = bucket.bucket_folder.strip("/")

    @property
    def url(self) -> str:
        return f"s3://{self.bucket.bucket_name}/{self.folder}".rstrip("/")

    def write(self, key: str, data: bytes) -> None:
        """Store data under key unless an object is there already.

        S3 checks ``If-None-Match: *`` itself, so two writers can never both win.

        Raises:
            ObjectExists: when another object with different bytes holds the key.
        """
        try:
            self._client().put_object(
                Bucket=self.bucket.bucket_name,
                Key=self._full_key(key),
                Body=data,
                IfNoneMatch="*",
            )
        except ClientError as error:
            if _error_code(error) not in ("PreconditionFailed", "412"):
                raise
            # A retried write whose first attempt landed finds its own bytes there.
            if self.read(key) != data:
                raise ObjectExists(
                    f"{self.url}/{key} already holds another object; raw objects "
                    "are never overwritten. Archive the response under a new key."
                ) from None

    def read(self, key: str) -> bytes:
        response = self._client().get_object(
            Bucket=self.bucket.bucket_name, Key=self._full_key(key)
        )
        body: bytes = response["Body"].read()
        return body

    def keys(self, prefix: str = "", start_after: str = "") -> Iterator[str]:
        """Yield the keys that start with prefix, in order, after start_after."""
        paginator = self._client().get_paginator("list_objects_v2")
        options: dict[str, Any] = {
            "Bucket": self.bucket.bucket_name,
            "Prefix": self._full_key(prefix),
        }
        if start_after:
            options["StartAfter"] = self._full_key(start_after)
        skip = len(self.folder) + 1 if self.folder else 0
        for page in paginator.paginate(**options):
            for entry in page.get("Contents", []):
                yield entry["Key"][skip:]

    def check_bucket(self) -> None:
        """Make sure the bucket exists and these credentials may use it.

        Raises:
            ArchiveError: naming the bucket and what to do.
        """
        try:
            self._client().head_bucket(Bucket=self.bucket.bucket_name)
        except ClientError as error:
            code = _error_code(error)
            problem = (
                "does not exist; create it or fix TRENDS_ARCHIVE_URL"
                if code in ("404", "NoSuchBucket", "NotFound")
                else f"cannot be used with these credentials ({code or error})"
            )
            raise ArchiveError(
                f"The archive bucket {self.bucket.bucket_name!r} {problem}."
            ) from None

    def _full_key(self, key: str) -> str:
        return f"{self.folder}/{key}" if self.folder else key

    def _client(self) -> Any:
        return self.bucket.credentials.get_s3_client()


def open_s3_archive(url: str) -> S3Archive:
    """Open ``s3://bucket/prefix`` with credentials from the environment.

    Raises:
        ArchiveError: when the URL names no bucket.
    """
    bucket_name, _, folder = url.removeprefix("s3://").partition("/")
    if not bucket_name:
        raise ArchiveError(
            f"Archive URL {url!r} names no bucket; use s3://bucket/prefix."
        )
    bucket = S3Bucket(
        bucket_name=bucket_name,
        bucket_folder=folder.strip("/"),
        credentials=aws_credentials_from_env(),
    )
    return S3Archive(bucket)


def aws_credentials_from_env() -> AwsCredentials:
    """AWS credentials as boto3 would find them in the environment, made explicit.

    Unset variables stay unset, so boto3 still falls back to profiles and instance
    roles. The endpoint is copied in because prefect-aws caches one client per
    credentials value: two endpoints must not share a client.
    """
    endpoint_url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL"
    )
    secret_access_key = os.environ.get("AWS_SECRET_ACCESS_KEY")
    return AwsCredentials(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=SecretStr(secret_access_key)
        if secret_access_key
        else None,
        aws_session_token=os.environ.get("AWS_SESSION_TOKEN"),
        region_name=os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION"),
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint_url),
    )


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
