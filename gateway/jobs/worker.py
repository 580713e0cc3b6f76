"""The worker: claims due jobs and runs them against the OMR servers.

One attempt: read the PDF, ask the OMR server which model it runs (for the results cache), then
stream the pages not yet stored, persisting each fragment as it arrives (blob, then fenced row).
A transient OMR error is retried with capped, jittered exponential backoff, resuming at the first
page not yet stored; a permanent one fails the job with the server's reason. When every page is
in, the fragments are assembled, validated and stored, and only then the job completes.
An attempt that cannot finish (OMR or object store down for too long, a crash) hands the job
back to the queue, or, when the process dies, the lease expires and any worker takes it over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from etude.ir.v1 import score_pb2
from etude.omr.v1 import omr_service_pb2 as omr_pb2
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from gateway import media
from gateway.events import JobEvents
from gateway.jobs.queue import Header, JobQueue, Lease, LeaseLostError
from gateway.jobs.records import options_from_json
from gateway.jobs.results import JSON_TYPE, PROTO_TYPE, assemble, score_to_json
from gateway.metrics import ATTEMPTS_ENDED, JOB_SECONDS, JOB_TRANSITIONS, OMR_RETRIES, PAGES_STORED
from gateway.omr_client import OmrClient, describe, is_transient
from gateway.settings import GatewaySettings
from observability.logs import bound
from storage.artifacts import put_blob
from storage.objects import ObjectStore, ObjectStoreUnavailableError

log = logging.getLogger(__name__)


class PermanentJobError(Exception):
    """The job cannot succeed (bad PDF, bad options, unassemblable result): fail it now."""


class IncompleteStreamError(Exception):
    """The OMR stream ended without every page; treated like a transient error."""


def _retryable(error: BaseException) -> bool:
    return is_transient(error) or isinstance(error, IncompleteStreamError)


class Worker:
    def __init__(
        self,
        queue: JobQueue,
        store: ObjectStore,
        omr: OmrClient,
        events: JobEvents,
        settings: GatewaySettings,
        *,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.store = store
        self.omr = omr
        self.events = events
        self.settings = settings
        self.worker_id = name or f"{settings.worker_id}-{uuid.uuid4().hex[:6]}"

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                lease = await self.queue.claim(self.worker_id)
            except Exception:
                log.exception("claiming a job failed; retrying")
                lease = None
            if lease is None:
                await self.events.wait_work(self.settings.poll_seconds)
                continue
            try:
                with bound(job_id=lease.job_id):
                    await self.process(lease)
            except Exception:
                # Even recording the outcome failed (database down): the lease will expire and
                # the job will be taken up again; this worker carries on.
                log.exception("job %s: could not record the attempt's outcome", lease.job_id)
                await asyncio.sleep(self.settings.poll_seconds)

    async def process(self, lease: Lease) -> None:
        """Runs one claimed attempt to its end, whatever happens."""
        log.info(
            "job running (attempt %d)",
            lease.attempt,
            extra={"state": "OMR_PROCESSING", "attempt": lease.attempt, "worker": self.worker_id},
        )
        JOB_TRANSITIONS.labels("OMR_PROCESSING").inc()
        self.events.job_changed(lease.job_id)
        attempt = asyncio.create_task(self._attempt(lease))
        heartbeat = asyncio.create_task(self._heartbeat(lease, attempt))
        try:
            await attempt
        except asyncio.CancelledError:
            if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                # This worker is stopping: hand the job straight back for another worker.
                attempt.cancel()
                with contextlib.suppress(BaseException):
                    await attempt
                await asyncio.shield(
                    self._settle(
                        self.queue.release(lease, "worker stopped", timedelta(0), count_attempt=False)
                    )
                )
                raise
            log.info(
                "job %s: lease %d lost (cancelled or taken over); attempt dropped", lease.job_id, lease.token
            )
        except LeaseLostError:
            log.info(
                "job %s: lease %d lost (cancelled or taken over); attempt dropped", lease.job_id, lease.token
            )
        except PermanentJobError as error:
            await self._fail(lease, str(error))
        except grpc.aio.AioRpcError as error:
            if is_transient(error):
                await self._release(lease, describe(error))
            else:
                await self._fail(lease, describe(error))
        except (ObjectStoreUnavailableError, IncompleteStreamError) as error:
            await self._release(lease, str(error))
        except Exception as error:
            log.exception("job %s: attempt %d crashed", lease.job_id, lease.attempt)
            await self._release(lease, f"internal error: {type(error).__name__}: {error}")
        else:
            ATTEMPTS_ENDED.labels("finished").inc()
            JOB_TRANSITIONS.labels("OMR_COMPLETED").inc()
            log.info("job completed", extra={"state": "OMR_COMPLETED"})
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            self.events.job_changed(lease.job_id)

    async def _fail(self, lease: Lease, error: str) -> None:
        ATTEMPTS_ENDED.labels("failed").inc()
        JOB_TRANSITIONS.labels("OMR_FAILED").inc()
        log.warning("job failed: %s", error, extra={"state": "OMR_FAILED"})
        await self._settle(self.queue.fail(lease, error))
        await self._observe_duration(lease.job_id, "OMR_FAILED")

    async def _observe_duration(self, job_id: str, state: str) -> None:
        with contextlib.suppress(Exception):  # a metric is not worth failing over
            created = (await self.queue.job_row(job_id))["create_time"]
            if created.tzinfo is None:  # SQLite hands back naive UTC times
                created = created.replace(tzinfo=UTC)
            JOB_SECONDS.labels(state).observe((datetime.now(UTC) - created).total_seconds())

    async def _release(self, lease: Lease, error: str) -> None:
        ATTEMPTS_ENDED.labels("released").inc()
        JOB_TRANSITIONS.labels("PENDING").inc()
        s = self.settings
        delay = min(s.retry_delay_seconds * 2 ** (lease.attempt - 1), s.retry_delay_max_seconds)
        log.warning("job back to the queue, retry in %.1f s: %s", delay, error, extra={"state": "PENDING"})
        await self._settle(self.queue.release(lease, error, timedelta(seconds=delay)))

    async def _settle(self, write: Any) -> None:
        with contextlib.suppress(LeaseLostError):
            await write

    async def _heartbeat(self, lease: Lease, attempt: asyncio.Task[None]) -> None:
        """Keeps the lease alive between pages (a page may take long), and stops the attempt as
        soon as the lease is lost (cancellation seen here or in another process)."""
        interval = max(self.settings.lease_seconds / 3, 0.05)
        while not attempt.done():
            await self.events.wait_job(lease.job_id, interval)
            try:
                await self.queue.renew(lease)
            except LeaseLostError:
                attempt.cancel()
                return
            except Exception:
                log.warning("job %s: lease renewal failed; will retry", lease.job_id, exc_info=True)

    async def _attempt(self, lease: Lease) -> None:
        job = await self.queue.job_row(lease.job_id)
        pdf = await self.store.get(await self.queue.artifact_key(job["pdf_artifact_id"]))
        if self.settings.results_cache:
            info = await self._with_retries(self.omr.service_info)
            model_key = Header(0, 0, 0, _model_dict(info.model), info.service_version).model_key
            earlier = await self.queue.find_cached(job, model_key)
            if earlier is not None:
                # The owner's own earlier pages, assembled anew under this job's name and options.
                await self.queue.adopt_pages(lease, earlier)
                log.info("pages taken from the cache of job %s", earlier["id"])
                await self._finish(lease, cached_from=str(earlier["id"]))
                return
        await self._with_retries(lambda: self._stream_remaining(lease, job, pdf))
        await self._finish(lease)

    async def _with_retries(self, call: Any) -> Any:
        s = self.settings
        async for retry in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            wait=wait_exponential_jitter(
                multiplier=s.omr_backoff_initial_seconds, max=s.omr_backoff_max_seconds
            ),
            stop=stop_after_attempt(s.omr_retries + 1),
            before_sleep=_log_retry,
            reraise=True,
        ):
            with retry:
                return await call()
        raise AssertionError("unreachable")

    async def _stream_remaining(self, lease: Lease, job: dict[str, Any], pdf: bytes) -> None:
        """One RecognizeDocument call for the pages not stored yet."""
        job = await self.queue.job_row(lease.job_id)
        options = options_from_json(job["options_json"])
        stored = await self.queue.stored_pages(lease.job_id)
        first = options.first_page
        known = job["pages_to_read"] > 0
        resume = max(stored) + 1 if stored else first
        if known and resume >= first + job["pages_to_read"]:
            return
        request = omr_pb2.RecognitionOptions(dpi=options.dpi, first_page=resume)
        if known:
            request.page_limit = first + job["pages_to_read"] - resume
        elif options.page_limit:
            request.page_limit = options.page_limit - (resume - first)
        header: Header | None = _header_of(job) if known else None
        async for message in self.omr.recognize(pdf, request, job["file_name"]):
            kind = message.WhichOneof("event")
            if kind == "header":
                h = message.header
                images = media.unbundle(pdf)
                expected = media.bundle_sha256(images) if images is not None else job["pdf_sha256"]
                if h.pdf_sha256 and h.pdf_sha256 != expected:
                    raise PermanentJobError("the OMR server read a different PDF (sha256 mismatch)")
                if header is None:
                    header = Header(
                        h.page_count,
                        h.pages_to_read,
                        h.dpi,
                        _model_dict(h.model),
                        h.service_version,
                        metadata=_metadata_dict(h.metadata),
                    )
                    await self.queue.record_header(lease, header)
                    self.events.job_changed(lease.job_id)
            elif kind == "page":
                if header is None:
                    raise PermanentJobError("the OMR server sent a page before its header")
                index = message.page.page_index
                if index in stored:
                    continue  # never store a page twice, whatever the server sends
                data = message.page.SerializeToString(deterministic=True)
                blob = await put_blob(self.store, "fragment", data, PROTO_TYPE, ".pb")
                await self.queue.record_page(lease, index, blob, header)
                PAGES_STORED.inc()
                log.info("page %d stored", index, extra={"page_index": index})
                stored[index] = blob.key
                self.events.job_changed(lease.job_id)
        total = header.pages_to_read if header else 0
        missing = [i for i in range(first, first + total) if i not in stored]
        if header is None or missing:
            raise IncompleteStreamError(f"the OMR stream ended early; pages {missing[:5]} missing")

    async def _finish(self, lease: Lease, *, cached_from: str = "") -> None:
        job = await self.queue.job_row(lease.job_id)
        stored = await self.queue.stored_pages(lease.job_id)
        keys = [stored[i] for i in sorted(stored)]
        fragments = [score_pb2.PageFragment.FromString(await self.store.get(key)) for key in keys]
        try:
            score = await asyncio.to_thread(assemble, fragments, job)
        except ValueError as error:  # InvalidScoreError is a ValueError
            raise PermanentJobError(f"the recognised pages do not make a valid score: {error}") from error
        pb = await put_blob(
            self.store, "score", score.SerializeToString(deterministic=True), PROTO_TYPE, ".pb"
        )
        js = await put_blob(self.store, "score-json", score_to_json(score), JSON_TYPE, ".json")
        await self.queue.complete(
            lease,
            score=pb,
            score_json=js,
            fragment_keys=keys,
            reason=(
                f"{len(fragments)} pages reused from job {cached_from} and assembled"
                if cached_from
                else f"{len(fragments)} pages recognised and assembled"
            ),
            model_key=job["model_key"],
            service_version=job["service_version"],
            cached=bool(cached_from),
        )
        await self._observe_duration(lease.job_id, "OMR_COMPLETED")


def _log_retry(state: Any) -> None:
    error = state.outcome.exception() if state.outcome else None
    OMR_RETRIES.inc()
    log.warning("OMR call failed (try %d), retrying: %s", state.attempt_number, error)


def _model_dict(model: score_pb2.ModelInfo) -> dict[str, str]:
    return {"name": model.name, "version": model.version, "sha256": model.sha256}


def _metadata_dict(metadata: score_pb2.Metadata) -> dict[str, str]:
    """The fields the document states (an empty field is not stated and is left out)."""
    fields = {"title": metadata.title, "composer": metadata.composer, "tempo_text": metadata.tempo_text}
    return {name: value for name, value in fields.items() if value}


def _header_of(job: dict[str, Any]) -> Header:
    import json

    return Header(
        job["page_count"],
        job["pages_to_read"],
        job["dpi"],
        json.loads(job["model_json"] or "{}"),
        job["service_version"] or "",
        metadata=json.loads(job["metadata_json"] or "{}"),
    )
