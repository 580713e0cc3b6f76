"""Both object store backends against real things: a folder and an S3 protocol server (moto)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from storage.artifacts import put_blob
from storage.objects import (
    LocalObjectStore,
    ObjectNotFoundError,
    ObjectStore,
    ObjectStoreUnavailableError,
    RetryingObjectStore,
    S3Config,
    S3ObjectStore,
    open_object_store,
    sha256_hex,
)
from tests.storage.fixtures import moto_s3


@pytest.fixture(scope="module")
def s3_server() -> Iterator[tuple[Any, str]]:
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        yield LocalObjectStore(tmp_path / "objects")
        return
    _, endpoint = request.getfixturevalue("s3_server")
    s3 = S3ObjectStore(
        S3Config(bucket="etude-test", prefix="run1", endpoint_url=endpoint, create_bucket=True)
    )
    yield s3
    await s3.close()


async def test_put_get_exists_round_trip(store: ObjectStore) -> None:
    data = b"%PDF-1.4 test bytes"
    blob = await put_blob(store, "pdf", data, "application/pdf", ".pdf")
    assert blob.sha256 == sha256_hex(data)
    assert blob.key == f"pdf/{blob.sha256[:2]}/{blob.sha256}.pdf"
    assert await store.exists(blob.key)
    assert await store.get(blob.key) == data
    assert store.key_for_uri(store.uri(blob.key)) == blob.key
    assert not await store.exists("pdf/00/missing.pdf")
    with pytest.raises(ObjectNotFoundError):
        await store.get("pdf/00/missing.pdf")


async def test_foreign_uris_and_escaping_keys_are_refused(store: ObjectStore) -> None:
    with pytest.raises(ValueError):
        store.key_for_uri("https://example.com/a.pdf")
    with pytest.raises(ValueError):
        store.key_for_uri("../../etc/passwd")


def test_open_object_store_by_url(tmp_path: Path) -> None:
    assert isinstance(open_object_store(str(tmp_path / "a")), LocalObjectStore)
    assert isinstance(open_object_store((tmp_path / "b").as_uri()), LocalObjectStore)
    s3 = open_object_store("s3://bucket/some/prefix", S3Config(bucket="", endpoint_url="http://x"))
    assert isinstance(s3, S3ObjectStore)
    assert s3.uri("k") == "s3://bucket/some/prefix/k"
    with pytest.raises(ValueError):
        open_object_store("ftp://nope")


async def test_unreachable_s3_is_reported_as_unavailable() -> None:
    from tests.storage.fixtures import free_port

    dead = S3ObjectStore(
        S3Config(bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}", connect_timeout=0.5)
    )
    try:
        with pytest.raises(ObjectStoreUnavailableError):
            await dead.put("k", b"x", "application/octet-stream")
    finally:
        await dead.close()


async def test_retrying_store_rides_out_an_outage() -> None:
    """The S3 server goes away, comes back on the same port two seconds later: the write lands."""
    from moto.server import ThreadedMotoServer

    with moto_s3() as (server, endpoint):
        s3 = S3ObjectStore(
            S3Config(bucket="outage", endpoint_url=endpoint, create_bucket=True, connect_timeout=0.5)
        )
        store = RetryingObjectStore(s3, give_up_after=20, initial=0.1, cap=0.5)
        await store.put("before", b"1", "text/plain")
        server.stop()  # type: ignore[attr-defined]
        port = int(endpoint.rsplit(":", 1)[1])
        revived = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        timer = threading.Timer(2.0, revived.start)
        timer.start()
        try:
            await store.put("during", b"2", "text/plain")
            assert await store.get("during") == b"2"
            assert await store.get("before") == b"1"
        finally:
            timer.join()
            revived.stop()
            server.start()  # type: ignore[attr-defined]  # so moto_s3's own stop() has a server to stop
            await store.close()


async def test_retrying_store_gives_up_after_its_deadline() -> None:
    from tests.storage.fixtures import free_port

    dead = S3ObjectStore(
        S3Config(bucket="b", endpoint_url=f"http://127.0.0.1:{free_port()}", connect_timeout=0.2)
    )
    store = RetryingObjectStore(dead, give_up_after=1.0, initial=0.1, cap=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        with pytest.raises(ObjectStoreUnavailableError):
            await store.get("k")
        assert loop.time() - started < 10
    finally:
        await store.close()
