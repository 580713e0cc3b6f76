"""The OpenAPI 3.1 description of the REST API, served at /openapi.json."""

from __future__ import annotations

from typing import Any

from gateway.jobs.records import TRANSITIONS, JobState
from gateway.media import IMAGE_FILES
from ir.export import FORMATS as SCORE_FORMATS

# From the one state machine (gateway/jobs/records.py), never restated by hand.
STATES = [state.to_proto_name() for state in JobState]
STATE_MACHINE = "Legal transitions: " + "; ".join(
    f"{state.value} → {', '.join(sorted(t.value for t in targets)) or '(final)'}"
    for state, targets in TRANSITIONS.items()
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {"schema": _ref("Problem")}}}


JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
ERRORS = {"401": _problem("Missing or unknown bearer token"), "404": _problem("No such job (for this token)")}
OPTION_PARAMS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0},
        "description": text,
    }
    for name, text in (
        ("dpi", "Rasterisation resolution; 0 = the OMR server's default."),
        ("first_page", "0-based index of the first page to read."),
        ("page_limit", "At most this many pages; 0 = all."),
    )
]


def openapi_document() -> dict[str, Any]:
    job_response = {"type": "object", "properties": {"job": _ref("Job")}, "required": ["job"]}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Étude gateway",
            "version": "1",
            "description": "Durable optical music recognition jobs: upload a PDF, follow the job, "
            "fetch the score as IR JSON/protobuf, MusicXML (plain or .mxl) or MIDI. Every call needs "
            "`Authorization: Bearer <token>`; a job is visible only to the token that created it.",
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details.",
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "reason": {"type": "string", "description": "Stable machine-readable cause."},
                        "field": {"type": "string", "description": "The offending request field."},
                    },
                },
                "Transition": {
                    "type": "object",
                    "properties": {
                        "from_state": {"type": "string", "enum": STATES},
                        "to_state": {"type": "string", "enum": STATES},
                        "time": {"type": "string", "format": "date-time"},
                        "reason": {"type": "string"},
                    },
                },
                "Job": {
                    "type": "object",
                    "description": "etude.jobs.v1.Job in the protobuf JSON mapping (int64 as strings).",
                    "properties": {
                        "id": {"type": "string"},
                        "state": {"type": "string", "enum": STATES, "description": STATE_MACHINE},
                        "file_name": {"type": "string"},
                        "pdf_sha256": {"type": "string"},
                        "pdf_size": {"type": "string"},
                        "options": {
                            "type": "object",
                            "properties": {
                                k: {"type": "integer"} for k in ("dpi", "first_page", "page_limit")
                            },
                        },
                        "page_count": {"type": "integer"},
                        "pages_done": {"type": "integer"},
                        "attempts": {"type": "integer"},
                        "error": {"type": "string"},
                        "create_time": {"type": "string", "format": "date-time"},
                        "update_time": {"type": "string", "format": "date-time"},
                        "transitions": {"type": "array", "items": _ref("Transition")},
                        "idempotency_key": {"type": "string"},
                        "cached": {"type": "boolean"},
                    },
                },
            },
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/jobs": {
                "post": {
                    "summary": "Create a job from a PDF or page images",
                    "description": "The PDF or a page image (PNG, JPEG, TIFF with a page per frame, WebP; "
                    "told by its content) as the raw body, or as the `file` part of a multipart form (with "
                    "optional dpi, first_page, page_limit, idempotency_key fields); several `file` parts, "
                    "each an image, are the pages of one document, in order. "
                    "A replay with the same Idempotency-Key returns the same job (200).",
                    "parameters": [
                        *OPTION_PARAMS,
                        {"name": "file_name", "in": "query", "schema": {"type": "string"}},
                        {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                            "image/*": {"schema": {"type": "string", "format": "binary"}},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "file": {
                                            "type": "array",
                                            "items": {"type": "string", "format": "binary"},
                                        },
                                        "dpi": {"type": "integer"},
                                        "first_page": {"type": "integer"},
                                        "page_limit": {"type": "integer"},
                                        "idempotency_key": {"type": "string"},
                                    },
                                    "required": ["file"],
                                }
                            },
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Created",
                            "content": {"application/json": {"schema": job_response}},
                        },
                        "200": {
                            "description": "Replay of an earlier request with the same idempotency key",
                            "content": {"application/json": {"schema": job_response}},
                        },
                        "400": _problem("Not a PDF, or bad options"),
                        "401": ERRORS["401"],
                        "409": _problem("Idempotency key reused for a different PDF"),
                        "413": _problem("PDF too large"),
                        "415": _problem("Unsupported content type"),
                    },
                },
                "get": {
                    "summary": "List the caller's jobs, newest first",
                    "parameters": [
                        {"name": "page_size", "in": "query", "schema": {"type": "integer", "maximum": 100}},
                        {"name": "page_token", "in": "query", "schema": {"type": "string"}},
                        {"name": "state", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of jobs",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "jobs": {"type": "array", "items": _ref("Job")},
                                            "next_page_token": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "400": _problem("Bad page token, size or state"),
                        "401": ERRORS["401"],
                    },
                },
            },
            "/v1/jobs/{job_id}": {
                "get": {
                    "summary": "Get a job",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": {
                            "description": "The job",
                            "content": {"application/json": {"schema": job_response}},
                        },
                        **ERRORS,
                    },
                },
                "delete": {
                    "summary": "Cancel a job (pending or processing)",
                    "parameters": [JOB_ID, {"name": "reason", "in": "query", "schema": {"type": "string"}}],
                    "responses": {
                        "200": {
                            "description": "The cancelled job",
                            "content": {"application/json": {"schema": job_response}},
                        },
                        "409": _problem("The job already ended"),
                        **ERRORS,
                    },
                },
            },
            "/v1/jobs/{job_id}/events": {
                "get": {
                    "summary": "Follow a job (server-sent events)",
                    "description": "Events `job` (the current state, first), `transition` and `page`, each "
                    "with data {job, transition|page} as JSON, until the job ends. Event ids can be sent "
                    "back as Last-Event-ID to resume.",
                    "parameters": [
                        JOB_ID,
                        {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "text/event-stream", "content": {"text/event-stream": {}}},
                        **ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/score": {
                "get": {
                    "summary": "The recognised score",
                    "parameters": [
                        JOB_ID,
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": list(SCORE_FORMATS),
                                "default": "json",
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The score in the requested format",
                            "content": {f.content_type: {} for f in SCORE_FORMATS.values()},
                        },
                        "400": _problem("Unknown format"),
                        "409": _problem("The job has no score (yet)"),
                        **ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/pdf": {
                "get": {
                    "summary": "The PDF the job was created from (its owner only)",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": {
                            "description": "The PDF or image as uploaded (of several images, the first)",
                            "content": {"application/pdf": {}, "image/*": {}},
                        },
                        **ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/original": {
                "get": {
                    "summary": "What the job was created from, as uploaded (its owner only)",
                    "description": "A PDF or one image with its own media type; several images as "
                    "their etude.omr.v1.ImageFiles bundle. `x-etude-original-files` is the number of "
                    "files, `x-etude-original-kind` `pdf` or `images`.",
                    "parameters": [JOB_ID],
                    "responses": {
                        "200": {
                            "description": "The upload",
                            "content": {"application/pdf": {}, "image/*": {}, IMAGE_FILES: {}},
                        },
                        **ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/original/{file_index}": {
                "get": {
                    "summary": "One uploaded file, with its media type (its owner only)",
                    "description": "Files in page order: the page images of an image job, or the "
                    "PDF (file 0) of a PDF job. Headers as for `/original`; an image also has "
                    "`x-etude-original-frames`, the pages it holds (a TIFF's frames, else 1). "
                    "`?as=png&frame=K` serves frame K of an image as a PNG instead, upright as it "
                    "is read, for browsers, which draw no TIFF.",
                    "parameters": [
                        JOB_ID,
                        {
                            "name": "file_index",
                            "in": "path",
                            "required": True,
                            "description": "0-based.",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "as",
                            "in": "query",
                            "description": "`png`: the image as a PNG (not for a PDF). Absent: as uploaded.",
                            "schema": {"type": "string", "enum": ["png"]},
                        },
                        {
                            "name": "frame",
                            "in": "query",
                            "description": "With `as=png`: the 0-based frame (page) of a multi-page TIFF; "
                            "past the last one is 404 NO_SUCH_FRAME.",
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The file",
                            "content": {"application/pdf": {}, "image/*": {}},
                        },
                        "400": _problem("Bad file index, rendition (`as`) or frame"),
                        **ERRORS,
                    },
                }
            },
            "/v1/jobs/{job_id}/pages/{page_index}/score": {
                "get": {
                    "summary": "One page's score, as soon as that page is read",
                    "description": "The page's fragment assembled on its own (measures numbered from "
                    "the page's first), for showing progress; the job's score is the document's.",
                    "parameters": [
                        JOB_ID,
                        {
                            "name": "page_index",
                            "in": "path",
                            "required": True,
                            "description": "0-based, as in the `page` events.",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "format",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["json", "musicxml"], "default": "json"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The page's score",
                            "content": {
                                SCORE_FORMATS[name].content_type: {} for name in ("json", "musicxml")
                            },
                        },
                        "400": _problem("Bad page index or format"),
                        "409": _problem("The page is not read yet"),
                        **ERRORS,
                    },
                }
            },
            "/v1/config": {
                "get": {
                    "summary": "What the web page needs to know before it calls (no token needed)",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "auth_required: whether calls need a bearer token",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"auth_required": {"type": "boolean"}},
                                    }
                                }
                            },
                        }
                    },
                }
            },
        },
    }
