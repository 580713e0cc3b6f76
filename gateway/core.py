"""Everything a gateway process shares between its APIs and its workers, built from settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.auth import Authenticator
from gateway.events import JobEvents
from gateway.jobs.queue import JobQueue
from gateway.jobs.repository import JobRepository
from gateway.jobs.results import Results
from gateway.omr_client import OmrClient
from gateway.settings import GatewaySettings
from gateway.streams import StreamLimiter
from storage.database import create_engine, migrate
from storage.objects import ObjectStore, RetryingObjectStore, S3Config, open_object_store


@dataclass
class GatewayCore:
    settings: GatewaySettings
    engine: AsyncEngine
    store: ObjectStore
    events: JobEvents
    auth: Authenticator
    repo: JobRepository
    queue: JobQueue
    results: Results
    omr: OmrClient
    streams: StreamLimiter

    @classmethod
    async def open(cls, settings: GatewaySettings) -> GatewayCore:
        engine = create_engine(settings.database_url)
        await migrate(engine)
        secret = settings.s3_secret_access_key
        s3 = S3Config(
            bucket="",
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            create_bucket=settings.s3_create_bucket,
        )
        store = RetryingObjectStore(
            open_object_store(settings.object_store_url, s3), give_up_after=settings.store_retry_seconds
        )
        events = JobEvents()
        token = settings.omr_token.get_secret_value() if settings.omr_token else None
        return cls(
            settings=settings,
            engine=engine,
            store=store,
            events=events,
            auth=Authenticator(settings.tokens),
            repo=JobRepository(engine, store, events, max_pdf_bytes=settings.max_pdf_bytes),
            queue=JobQueue(engine, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts),
            results=Results(engine, store),
            omr=OmrClient(
                settings.omr_address,
                token=token,
                deadline_seconds=settings.omr_deadline_seconds,
                info_deadline_seconds=settings.omr_info_deadline_seconds,
            ),
            streams=StreamLimiter(
                per_job=settings.max_streams_per_job, per_owner=settings.max_streams_per_owner
            ),
        )

    async def close(self) -> None:
        await self.omr.close()
        await self.store.close()
        await self.engine.dispose()
