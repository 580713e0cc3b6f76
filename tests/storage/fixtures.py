"""Real databases and a real S3 endpoint for tests: shared by tests/storage and tests/gateway.

Postgres: the server at 127.0.0.1:5432 when reachable, else a throw-away cluster made with
Debian's initdb/pg_ctl; every run gets its own uniquely named database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

PG_HOST = os.environ.get("ETUDE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("ETUDE_TEST_PG_PORT", "5432"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


def _as_cluster_owner() -> list[str]:
    """initdb refuses to run as root: there, run the cluster as the `postgres` system user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` user to own a throw-away cluster")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[tuple[str, int]]:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.skip("no Postgres reachable at 127.0.0.1:5432 and no initdb installed to start one")
    bindir = Path(bins[-1]).parent
    prefix = _as_cluster_owner()
    data = Path(tempfile.mkdtemp(prefix="etude-pg-"))
    if prefix:
        shutil.chown(data, "postgres")
    port = free_port()
    env = {**os.environ, "LC_ALL": "C"}
    try:
        subprocess.run(
            [*prefix, bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        subprocess.run(
            [*prefix, bindir / "pg_ctl", "-D", data, "-w", "-l", data / "log",
             "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as error:
        shutil.rmtree(data, ignore_errors=True)
        stderr = getattr(error, "stderr", b"") or b""
        pytest.skip(
            f"could not start a throw-away Postgres cluster: {error} {stderr.decode(errors='replace')[-300:]}"
        )
    try:
        yield "127.0.0.1", port
    finally:
        subprocess.run(
            [*prefix, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(data, ignore_errors=True)


async def _admin(host: str, port: int, sql: str) -> None:
    import asyncpg

    for database in ("test", "postgres"):
        try:
            connection = await asyncpg.connect(host=host, port=port, user="postgres", database=database)
        except asyncpg.InvalidCatalogNameError:
            continue
        try:
            await connection.execute(sql)
        finally:
            await connection.close()
        return
    raise RuntimeError("neither database 'test' nor 'postgres' exists")


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str, int]]:
    if _reachable(PG_HOST, PG_PORT):
        yield PG_HOST, PG_PORT
    else:
        with _throwaway_cluster() as server:
            yield server


@contextlib.asynccontextmanager
async def fresh_postgres_database(host: str, port: int) -> AsyncIterator[str]:
    name = f"etude_test_{uuid.uuid4().hex[:12]}"
    await _admin(host, port, f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+asyncpg://postgres@{host}:{port}/{name}"
    finally:
        await _admin(host, port, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def moto_s3() -> Iterator[tuple[object, str]]:
    """A real S3 protocol endpoint (moto's server) on a free loopback port."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        server.stop()
