"""Object storage: one small async interface, two backends (a local folder and any S3 endpoint).

Keys are content-addressed (`content_key`), so writing the same bytes twice is harmless and a
retried upload never duplicates anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential_jitter

T = TypeVar("T")


class ObjectNotFoundError(KeyError):
    """The key names no object."""


class ObjectStoreUnavailableError(ConnectionError):
    """The store could not be reached or answered with a server error; worth retrying."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


MAX_KEY = 512  # the artifacts.key column
MAX_KEY_PART = 255  # bytes in one file name on common file systems
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_key(key: str) -> str:
    """Keys are relative `a/b/c` paths of printable, non-empty parts: checked before any
    backend sees them, so a bad key is a ValueError naming the key, never an OS error
    (IsADirectoryError, ENAMETOOLONG) carrying the store's absolute path."""
    shown = key if len(key) <= 80 else key[:77] + "..."
    parts = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY
        or _CONTROL.search(key)
        or any(part in {"", ".", ".."} for part in parts)
        or any(len(part.encode("utf-8", "surrogatepass")) > MAX_KEY_PART for part in parts)
    ):
        raise ValueError(f"bad object key: {shown!r}")
    return key


def content_key(kind: str, sha256: str, suffix: str = "") -> str:
    """`pdf/ab/abcdef….pdf`: the two-letter fan-out keeps local folders small."""
    return f"{kind}/{sha256[:2]}/{sha256}{suffix}"


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...
    async def get(self, key: str) -> bytes: ...
    async def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...
    def key_for_uri(self, uri: str) -> str:
        """The key of an object of this store named by a URI (or a bare key); ValueError if foreign."""
        ...

    async def close(self) -> None: ...


class LocalObjectStore:
    """Objects as files under a folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"object key escapes the store: {key!r}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await asyncio.to_thread(self._write, self._path(key), data)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            # A key that names a folder (`pdf`) is no object either; never the path in a message.
            raise ObjectNotFoundError(key) from None

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    def uri(self, key: str) -> str:
        return self._path(key).as_uri()

    def key_for_uri(self, uri: str) -> str:
        if uri.startswith("file://"):
            if "\x00" in uri or len(uri) > 4096:
                raise ValueError("not a usable file:// URI")
            path = Path(uri.removeprefix("file://")).resolve()
            if not path.is_relative_to(self.root):
                raise ValueError(f"{uri} is not in this gateway's object store")
            return path.relative_to(self.root).as_posix()
        if "://" in uri:
            raise ValueError(f"{uri} is not in this gateway's object store (a file:// URI or a key)")
        self._path(uri)
        return uri

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class S3Config:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    create_bucket: bool = False
    connect_timeout: float = 3.0
    read_timeout: float = 30.0


class S3ObjectStore:
    """Objects in an S3 bucket (AWS, MinIO, Ceph, moto…) through aiobotocore."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        self._stack = contextlib.AsyncExitStack()
        self._client: Any = None
        self._lock = asyncio.Lock()

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await self._open()
        return self._client

    async def _open(self) -> Any:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        cfg = self.config
        client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=cfg.endpoint_url,
                region_name=cfg.region,
                aws_access_key_id=cfg.access_key_id,
                aws_secret_access_key=cfg.secret_access_key,
                # Retries are ours (tenacity, around whole operations); botocore's would stack up.
                config=AioConfig(
                    connect_timeout=cfg.connect_timeout,
                    read_timeout=cfg.read_timeout,
                    retries={"max_attempts": 1, "mode": "standard"},
                ),
            )
        )
        if cfg.create_bucket:
            await _translated(self._ensure_bucket(client))
        return client

    async def _ensure_bucket(self, client: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            await client.head_bucket(Bucket=self.config.bucket)
        except ClientError:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                await client.create_bucket(Bucket=self.config.bucket)

    def _full_key(self, key: str) -> str:
        check_key(key)
        prefix = self.config.prefix.strip("/")
        return f"{prefix}/{key}" if prefix else key

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        s3 = await self._s3()
        await _translated(
            s3.put_object(
                Bucket=self.config.bucket, Key=self._full_key(key), Body=data, ContentType=content_type
            )
        )

    async def get(self, key: str) -> bytes:
        s3 = await self._s3()

        async def read() -> bytes:
            response = await s3.get_object(Bucket=self.config.bucket, Key=self._full_key(key))
            async with response["Body"] as body:
                data: bytes = await body.read()
                return data

        return await _translated(read(), key)

    async def exists(self, key: str) -> bool:
        s3 = await self._s3()
        try:
            await _translated(s3.head_object(Bucket=self.config.bucket, Key=self._full_key(key)), key)
        except ObjectNotFoundError:
            return False
        return True

    def uri(self, key: str) -> str:
        return f"s3://{self.config.bucket}/{self._full_key(key)}"

    def key_for_uri(self, uri: str) -> str:
        if uri.startswith("s3://"):
            bucket, _, full_key = uri.removeprefix("s3://").partition("/")
            prefix = self.config.prefix.strip("/")
            if bucket != self.config.bucket or (prefix and not full_key.startswith(prefix + "/")):
                raise ValueError(f"{uri} is not in this gateway's object store")
            key = full_key[len(prefix) + 1 :] if prefix else full_key
        elif "://" in uri:
            raise ValueError(f"{uri} is not in this gateway's object store (an s3:// URI or a key)")
        else:
            key = uri
        self._full_key(key)
        return key

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


async def _translated(operation: Awaitable[T], key: str = "") -> T:
    """Maps botocore's many failure types onto the two this module promises."""
    import aiohttp
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return await operation
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in {"NoSuchKey", "404", "NotFound"}:
            raise ObjectNotFoundError(key) from error
        if status >= 500 or code in {"SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"}:
            raise ObjectStoreUnavailableError(str(error)) from error
        raise
    except (TimeoutError, BotoCoreError, aiohttp.ClientError, OSError) as error:
        raise ObjectStoreUnavailableError(f"object store unreachable: {error}") from error


class RetryingObjectStore:
    """Retries unavailability with capped, jittered exponential backoff for up to `give_up_after`
    seconds, then lets ObjectStoreUnavailableError through (the caller decides: retry later)."""

    def __init__(
        self, inner: ObjectStore, *, give_up_after: float = 60.0, initial: float = 0.2, cap: float = 5.0
    ) -> None:
        self.inner = inner
        self._give_up_after = give_up_after
        self._initial = initial
        self._cap = cap

    async def _retry(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ObjectStoreUnavailableError),
            wait=wait_exponential_jitter(multiplier=self._initial, max=self._cap),
            stop=stop_after_delay(self._give_up_after),
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # AsyncRetrying either returns or re-raises

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._retry(lambda: self.inner.put(key, data, content_type))

    async def get(self, key: str) -> bytes:
        return await self._retry(lambda: self.inner.get(key))

    async def exists(self, key: str) -> bool:
        return await self._retry(lambda: self.inner.exists(key))

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    def key_for_uri(self, uri: str) -> str:
        return self.inner.key_for_uri(uri)

    async def close(self) -> None:
        await self.inner.close()


def open_object_store(url: str, s3: S3Config | None = None) -> ObjectStore:
    """`s3://bucket/prefix` (endpoint and credentials from `s3`), `file:///path` or a plain folder."""
    if url.startswith("s3://"):
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in object store URL {url!r}")
        base = s3 or S3Config(bucket=bucket)
        return S3ObjectStore(S3Config(**{**base.__dict__, "bucket": bucket, "prefix": prefix or base.prefix}))
    if url.startswith("file://"):
        return LocalObjectStore(Path(url.removeprefix("file://")))
    if "://" in url:
        raise ValueError(f"unsupported object store URL {url!r} (use s3://, file:// or a folder)")
    return LocalObjectStore(Path(url))
