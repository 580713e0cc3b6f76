// Étude's browser page: upload a PDF, follow the job live, compare each original page with the
// recognised score, download the results. Plain ES modules, no build step; the two libraries it
// uses (pdf.js, Verovio) are vendored under vendor/ and loaded only when first needed.
import { readEvents } from "./sse.js";

const TERMINAL = new Set(["OMR_COMPLETED", "OMR_FAILED", "CANCELLED"]);
const FORMATS = {
  musicxml: { suffix: ".musicxml", label: "MusicXML" },
  midi: { suffix: ".mid", label: "MIDI" },
  json: { suffix: ".json", label: "IR JSON" },
};

const $ = (selector) => document.querySelector(selector);

// ---- the API ---------------------------------------------------------------------------------

const TOKEN_KEY = "etude.token";

function token() {
  return localStorage.getItem(TOKEN_KEY) || "";
}

function authHeaders(extra = {}) {
  const value = token();
  return value ? { ...extra, Authorization: `Bearer ${value}` } : extra;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

// Turns a non-2xx response (problem+json or not) into an ApiError with a readable message.
async function failure(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    problem = { title: `${response.status} ${response.statusText}` };
  }
  return new ApiError(response.status, problem);
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers) });
  if (!response.ok) throw await failure(response);
  return response;
}

// Jobs come as protobuf JSON; accept both lowerCamelCase and original field names.
function field(object, name) {
  if (!object) return undefined;
  if (name in object) return object[name];
  const camel = name.replace(/_([a-z])/g, (_, letter) => letter.toUpperCase());
  return object[camel];
}

function stateOf(job) {
  return String(field(job, "state") || "PENDING").replace(/^JOB_STATE_/, "");
}

function jobOf(payload) {
  return field(payload, "job") || (field(payload, "id") ? payload : undefined);
}

// ---- state -----------------------------------------------------------------------------------

const view = {
  job: null, // the job shown
  watch: null, // AbortController of its event stream
  pdfs: new Map(), // job id → ArrayBuffer of PDFs uploaded from this page
  score: null, // { ir, musicxml } once loaded
  page: 0, // 0-based page shown in the viewer
};

// ---- token -----------------------------------------------------------------------------------

function setUpToken() {
  // A token in the fragment (#token=…) never reaches the server; take it and clean the URL.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    localStorage.setItem(TOKEN_KEY, fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("#token").value = token();
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    refreshJobs();
  });
}

// ---- upload ----------------------------------------------------------------------------------

function setUpUpload() {
  const input = $("#pdf-file");
  const zone = $("#drop-zone");
  input.addEventListener("change", () => {
    $("#upload-button").disabled = !input.files.length;
    zone.querySelector("span").textContent = input.files.length ? input.files[0].name : "Drop a PDF here, or choose one";
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  $("#upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (file) await upload(file);
  });
}

async function upload(file) {
  showError("#upload-error", null);
  $("#upload-button").disabled = true;
  try {
    const bytes = await file.arrayBuffer();
    const form = new FormData();
    // The file as chosen, with its own type: the gateway, not the page, decides what a PDF is.
    form.append("file", file, file.name);
    const response = await api("/v1/jobs", { method: "POST", body: form });
    const job = jobOf(await response.json());
    view.pdfs.set(field(job, "id"), bytes);
    openJob(job);
    refreshJobs();
  } catch (error) {
    showError("#upload-error", error);
  } finally {
    $("#upload-button").disabled = !$("#pdf-file").files.length;
  }
}

// ---- one job, live ---------------------------------------------------------------------------

function openJob(job) {
  view.watch?.abort();
  view.job = job;
  view.score = null;
  view.page = 0;
  $("#event-log").replaceChildren();
  $("#pages").replaceChildren();
  $("#viewer-section").hidden = true;
  $("#job-section").hidden = false;
  showError("#job-error", null);
  renderJob(job);
  if (TERMINAL.has(stateOf(job))) {
    finish(job);
  } else {
    watch(field(job, "id"));
    // With the PDF at hand, show its first page while the music is being read.
    if (view.pdfs.has(field(job, "id"))) showViewer().catch((error) => showError("#job-error", error));
  }
}

// Follows GET /v1/jobs/{id}/events. EventSource cannot send an Authorization header, so the
// stream is read with fetch; it reconnects (with Last-Event-ID) until the job ends.
async function watch(jobId) {
  const controller = new AbortController();
  view.watch = controller;
  let lastEventId = "";
  for (let delay = 500; !controller.signal.aborted; delay = Math.min(delay * 2, 10000)) {
    try {
      const headers = authHeaders({ Accept: "text/event-stream" });
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(`/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        headers,
        signal: controller.signal,
        cache: "no-store",
      });
      if (!response.ok) throw await failure(response);
      for await (const message of readEvents(response.body)) {
        if (message.id) lastEventId = message.id;
        delay = 500;
        if (onEvent(message)) {
          controller.abort(); // the job has ended: close the stream
          return;
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error instanceof ApiError && error.status < 500) {
        showError("#job-error", error);
        return;
      }
      logEvent("reconnecting", String(error.message || error));
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

// Applies one server-sent event; true once the job has ended.
function onEvent(message) {
  if (!message.data) return false;
  let payload;
  try {
    payload = JSON.parse(message.data);
  } catch {
    logEvent(message.event || "message", message.data);
    return false;
  }
  const job = jobOf(payload);
  if (job && view.job && field(job, "id") !== field(view.job, "id")) return false;
  if (job) view.job = job;
  const page = field(payload, "page");
  const transition = field(payload, "transition");
  if (page) {
    logEvent("page", `page ${Number(field(page, "page_index") || 0) + 1} done`);
    markPage(Number(field(page, "page_index") || 0));
  } else if (transition) {
    const to = String(field(transition, "to_state") || "").replace(/^JOB_STATE_/, "");
    logEvent("state", to + (field(transition, "reason") ? ` (${field(transition, "reason")})` : ""));
  } else {
    logEvent(message.event || "job", stateOf(view.job));
  }
  renderJob(view.job);
  if (!view.score && !$("#viewer-section").hidden && !TERMINAL.has(stateOf(view.job))) {
    renderPage().catch((error) => showError("#job-error", error));
  }
  if (TERMINAL.has(stateOf(view.job))) {
    finish(view.job);
    refreshJobs();
    return true;
  }
  return false;
}

function renderJob(job) {
  const state = stateOf(job);
  const pageCount = Number(field(job, "page_count") || 0);
  const pagesDone = Number(field(job, "pages_done") || 0);
  $("#job-title").textContent = field(job, "file_name") || field(job, "id");
  const badge = $("#job-state");
  badge.textContent = state.replace(/_/g, " ").toLowerCase();
  badge.dataset.state = state;
  $("#job-progress").max = Math.max(pageCount, 1);
  $("#job-progress").value = state === "OMR_COMPLETED" ? Math.max(pageCount, 1) : pagesDone;
  $("#job-summary").textContent = pageCount
    ? `${pagesDone} of ${pageCount} page${pageCount === 1 ? "" : "s"} recognised` + (field(job, "cached") ? " (reused)" : "")
    : "waiting for the OMR server…";
  $("#cancel-button").hidden = TERMINAL.has(state);
  const pages = $("#pages");
  for (let index = pages.children.length; index < pageCount; index++) {
    const item = document.createElement("li");
    item.textContent = String(index + 1);
    item.title = `Page ${index + 1}`;
    pages.append(item);
  }
  for (let index = 0; index < Math.min(pagesDone, pageCount); index++) markPage(index);
  // Keep this job's row in the list in step.
  const row = document.querySelector(`#jobs tr[data-job-id="${CSS.escape(String(field(job, "id")))}"]`);
  if (row) {
    row.cells[1].textContent = state.replace(/_/g, " ").toLowerCase();
    row.cells[2].textContent = `${pagesDone}/${pageCount || "?"}`;
  }
  if (state === "OMR_FAILED" || state === "CANCELLED") {
    showError("#job-error", new Error(field(job, "error") || state.toLowerCase()));
  }
}

function markPage(index) {
  const item = $("#pages").children[index];
  if (item) item.classList.add("done");
}

function logEvent(kind, text) {
  const item = document.createElement("li");
  item.dataset.kind = kind;
  item.textContent = `${new Date().toLocaleTimeString()} ${kind}: ${text}`;
  $("#event-log").append(item);
}

async function cancelJob() {
  if (!view.job) return;
  try {
    const response = await api(`/v1/jobs/${encodeURIComponent(field(view.job, "id"))}`, { method: "DELETE" });
    const job = jobOf(await response.json().catch(() => ({})));
    if (job) renderJob((view.job = job));
  } catch (error) {
    showError("#job-error", error);
  }
}

// ---- results ---------------------------------------------------------------------------------

async function finish(job) {
  const done = stateOf(job) === "OMR_COMPLETED";
  $("#downloads").hidden = !done;
  if (!done) {
    $("#viewer-section").hidden = true;
    return;
  }
  const id = field(job, "id");
  try {
    const [ir, musicxml] = await Promise.all([
      scoreResponse(id, "json").then((response) => response.json()),
      scoreResponse(id, "musicxml").then((response) => response.text()),
    ]);
    if (field(view.job, "id") !== id) return;
    view.score = { ir, musicxml };
    const notes = (ir.notes || []).length;
    const measures = (ir.measures || []).length;
    const warnings = (ir.warnings || []).length;
    $("#job-summary").textContent +=
      ` — ${notes} notes in ${measures} measures` + (warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : "");
    await showViewer();
  } catch (error) {
    showError("#job-error", error);
  }
}

function scoreResponse(id, format) {
  return api(`/v1/jobs/${encodeURIComponent(id)}/score?format=${format}`);
}

async function download(format) {
  const id = field(view.job, "id");
  try {
    const blob = await (await scoreResponse(id, format)).blob();
    const base = (field(view.job, "file_name") || id).replace(/\.pdf$/i, "");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = base + FORMATS[format].suffix;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  } catch (error) {
    showError("#job-error", error);
  }
}

// ---- viewer: original page next to the recognised one --------------------------------------

let verovio = null; // a promise of a VerovioToolkit
let pdfjs = null; // a promise of the pdf.js module

function loadVerovio() {
  verovio ??= (async () => {
    const [{ default: createVerovioModule }, { VerovioToolkit }] = await Promise.all([
      import("./vendor/verovio/verovio-module.mjs"),
      import("./vendor/verovio/verovio.mjs"),
    ]);
    return new VerovioToolkit(await createVerovioModule());
  })();
  return verovio;
}

function loadPdfjs() {
  pdfjs ??= import("./vendor/pdfjs/pdf.min.mjs").then((module) => {
    module.GlobalWorkerOptions.workerSrc = new URL("vendor/pdfjs/pdf.worker.min.mjs", location.href).href;
    return module;
  });
  return pdfjs;
}

function pageCount() {
  const ir = view.score?.ir;
  const fromJob = Number(field(view.job, "page_count") || 0);
  const fromScore = Number(field(field(ir, "source"), "page_count") || 0);
  const fromMeasures = Math.max(0, ...(ir?.measures || []).map((m) => Number(field(m, "page_index") || 0) + 1));
  return Math.max(fromJob, fromScore, fromMeasures, 1);
}

async function showViewer() {
  $("#viewer-section").hidden = false;
  await renderPage();
}

async function renderPage() {
  const pages = pageCount();
  view.page = Math.min(Math.max(view.page, 0), pages - 1);
  $("#viewer-page").textContent = String(view.page + 1);
  $("#viewer-pages").textContent = String(pages);
  $("#prev-page").disabled = view.page === 0;
  $("#next-page").disabled = view.page >= pages - 1;
  $("#viewer-status").textContent = "rendering…";
  const job = view.job;
  await Promise.all([renderOriginal(view.page), renderScore(view.page)]);
  if (view.job !== job && field(view.job, "id") !== field(job, "id")) return; // another job opened meanwhile
  $("#viewer-status").textContent = "";
  // For tests and scripts: which job and page are on screen, once their score is.
  if (view.score) document.body.dataset.rendered = `${field(view.job, "id")}:${view.page}`;
}

// The uploaded PDF of a job, parsed once by pdf.js (the loading task is kept per job).
const pdfDocuments = new Map();

async function pdfDocument(id, bytes) {
  if (!pdfDocuments.has(id)) {
    const lib = await loadPdfjs();
    pdfDocuments.set(
      id,
      lib.getDocument({
        data: bytes.slice(0), // pdf.js takes ownership of the buffer it gets
        wasmUrl: new URL("vendor/pdfjs/wasm/", location.href).href,
        isEvalSupported: false,
      }).promise,
    );
  }
  return pdfDocuments.get(id);
}

async function renderOriginal(page) {
  const holder = $("#original");
  const id = field(view.job, "id");
  const bytes = view.pdfs.get(id);
  if (!bytes) {
    holder.replaceChildren(note("The original is shown for PDFs uploaded from this page."));
    holder.dataset.shown = "";
    return;
  }
  if (holder.dataset.shown === `${id}:${page}`) return; // already on screen
  const documentProxy = await pdfDocument(id, bytes);
  const first = Number(field(field(view.job, "options"), "first_page") || 0);
  const pdfPage = await documentProxy.getPage(page + 1 + first);
  const base = pdfPage.getViewport({ scale: 1 });
  const viewport = pdfPage.getViewport({ scale: (holder.clientWidth || 600) / base.width });
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(viewport.width);
  canvas.height = Math.round(viewport.height);
  await pdfPage.render({ canvas, canvasContext: canvas.getContext("2d"), viewport }).promise;
  holder.replaceChildren(canvas);
  holder.dataset.shown = `${id}:${page}`;
}

// Measures of one page, as 1-based positions in the exported MusicXML (IR measure index + 1).
function measureRange(page) {
  const indices = (view.score.ir.measures || [])
    .filter((measure) => Number(field(measure, "page_index") || 0) === page)
    .map((measure) => Number(field(measure, "index") || 0));
  if (!indices.length) return null;
  return `${Math.min(...indices) + 1}-${Math.max(...indices) + 1}`;
}

async function renderScore(page) {
  const holder = $("#score");
  if (!view.score) {
    const done = $("#pages").children[page]?.classList.contains("done");
    holder.replaceChildren(
      note(done ? "Page read; the score appears when the whole document is." : "Reading this page…"),
    );
    return;
  }
  const range = measureRange(page);
  if (!range) {
    holder.replaceChildren(note("No music was recognised on this page."));
    return;
  }
  const toolkit = await loadVerovio();
  toolkit.setOptions({
    pageWidth: Math.max(800, Math.round((holder.clientWidth || 600) * 2.5)),
    pageHeight: 60000,
    adjustPageHeight: true,
    scale: 40,
    breaks: "auto",
    header: "none",
    footer: "none",
  });
  if (!toolkit.loadData(view.score.musicxml)) throw new Error("Verovio could not read the MusicXML");
  toolkit.select({ measureRange: range });
  toolkit.redoLayout();
  const svgs = [];
  for (let index = 1; index <= toolkit.getPageCount(); index++) svgs.push(toolkit.renderToSVG(index));
  holder.innerHTML = svgs.join("");
  holder.dataset.measures = range;
}

function note(text) {
  const paragraph = document.createElement("p");
  paragraph.className = "muted";
  paragraph.textContent = text;
  return paragraph;
}

// ---- job list --------------------------------------------------------------------------------

async function refreshJobs() {
  showError("#jobs-error", null);
  try {
    const payload = await (await api("/v1/jobs?page_size=50")).json();
    const rows = (field(payload, "jobs") || []).map((job) => {
      const row = document.createElement("tr");
      row.dataset.jobId = field(job, "id");
      const created = field(job, "create_time");
      const cells = [
        field(job, "file_name") || field(job, "id"),
        stateOf(job).replace(/_/g, " ").toLowerCase(),
        `${field(job, "pages_done") || 0}/${field(job, "page_count") || "?"}`,
        created ? new Date(created).toLocaleString() : "",
      ];
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      row.addEventListener("click", () => openJob(job));
      return row;
    });
    $("#jobs tbody").replaceChildren(...rows);
  } catch (error) {
    showError("#jobs-error", error);
  }
}

// ---- helpers ---------------------------------------------------------------------------------

function showError(selector, error) {
  const element = $(selector);
  element.hidden = !error;
  element.textContent = error ? error.message || String(error) : "";
}

function setUp() {
  setUpToken();
  setUpUpload();
  $("#cancel-button").addEventListener("click", cancelJob);
  $("#refresh-jobs").addEventListener("click", refreshJobs);
  for (const button of document.querySelectorAll("#downloads button")) {
    button.addEventListener("click", () => download(button.dataset.format));
  }
  $("#prev-page").addEventListener("click", () => {
    view.page -= 1;
    renderPage().catch((error) => showError("#job-error", error));
  });
  $("#next-page").addEventListener("click", () => {
    view.page += 1;
    renderPage().catch((error) => showError("#job-error", error));
  });
  refreshJobs();
}

setUp();
