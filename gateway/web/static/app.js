// Étude's browser page: upload a PDF or page images, follow the job live (each page's score appears as soon as
// that page is read), compare each original page with the recognised score, download the results. Plain ES modules, no build step; the two libraries it
// uses (pdf.js, Verovio) are vendored under vendor/ and loaded only when first needed.
import { readEvents } from "./sse.js";

const TERMINAL = new Set(["OMR_COMPLETED", "OMR_FAILED", "CANCELLED"]);
// Notes the model was less sure of than this are drawn in the warning colour.
const LOW_CONFIDENCE = 0.5;
const LOW_COLOUR = "#e8590c";
// Where each recognised note is on the original page (the IR's `box`), drawn over it on demand.
const BOXES_KEY = "etude.boxes"; // "on" / "off", remembered between visits
const ZOOMS = [0.5, 0.75, 1, 1.25, 1.5, 2, 3];
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

// What a job is doing, in the words a person would use ("reading page 3 of 5").
function describe(job) {
  const state = stateOf(job);
  const count = Number(field(job, "page_count") || 0);
  const done = Number(field(job, "pages_done") || 0);
  switch (state) {
    case "PENDING":
      return "waiting to start";
    case "OMR_PROCESSING":
      if (!count) return "opening the PDF";
      if (done >= count) return "putting the score together";
      return `reading page ${done + 1} of ${count}`;
    case "OMR_COMPLETED":
      return "done";
    case "OMR_FAILED":
      return "failed";
    case "CANCELLED":
      return "cancelled";
    default:
      return state.replace(/_/g, " ").toLowerCase();
  }
}

// ---- state -----------------------------------------------------------------------------------

const view = {
  job: null, // the job shown
  watch: null, // AbortController of its event stream
  // job id → promise of its original, uploaded here or fetched: { kind: "pdf", bytes } or
  // { kind: "images", page(index) → promise of a Blob the browser draws } (pages in order)
  originals: new Map(),
  score: null, // { ir, musicxml } of the whole job once loaded
  pageScores: new Map(), // page index → promise of { ir, musicxml } of that page alone
  page: 0, // 0-based page shown in the viewer
  shownIr: null, // the IR whose notes are on screen (the job's score or the page's own)
  selected: null, // IR id of the note or rest picked in either pane
  zoom: { original: 1, score: 1 },
};

// ---- token -----------------------------------------------------------------------------------

// The token box only where the gateway requires tokens (or a call was refused for want of one).
async function setUpAuth() {
  try {
    const config = await (await fetch("/v1/config", { cache: "no-store" })).json();
    $("#token-form").hidden = !config.auth_required;
  } catch {
    $("#token-form").hidden = false; // an older gateway: offer the box
  }
}

function setUpToken() {
  // A token in the fragment (#token=…) never reaches the server; take it and clean the URL.
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    localStorage.setItem(TOKEN_KEY, fragment.get("token"));
    fragment.delete("token");
    const rest = fragment.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
  $("#token").value = token();
  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    localStorage.setItem(TOKEN_KEY, $("#token").value.trim());
    refreshJobs();
  });
}

// ---- upload ----------------------------------------------------------------------------------

// What the gateway reads (gateway/media.py): one PDF, or page images. The gateway decides by
// content; the page only refuses what it can tell is something else, before sending it.
const IMAGE_KINDS = {
  "image/png": "PNG",
  "image/jpeg": "JPEG",
  "image/jpg": "JPEG",
  "image/tiff": "TIFF",
  "image/webp": "WebP",
};
const IMAGE_SUFFIXES = { png: "PNG", jpg: "JPEG", jpeg: "JPEG", tif: "TIFF", tiff: "TIFF", webp: "WebP" };
const DROP_TEXT = "Drop a PDF or page images (PNG, JPEG, TIFF, WebP) here, or choose them";

// "pdf", "image" or null (neither), by the file's type and, where the browser gives none, its name.
function kindOf(file) {
  const suffix = (/\.([a-z0-9]+)$/i.exec(file.name)?.[1] || "").toLowerCase();
  const type = file.type === "application/octet-stream" ? "" : file.type;
  if (type === "application/pdf" || (!type && suffix === "pdf")) return "pdf";
  if (IMAGE_KINDS[type] || (!type && IMAGE_SUFFIXES[suffix])) return "image";
  return null;
}

// Several images are the pages of one document in the order of their names, numbers counted as
// numbers ("page-2" before "page-10"), whatever order the file chooser or the drop gave.
function inPageOrder(files) {
  return [...files].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" }));
}

// Why these files cannot be sent together, or null when they can.
function uploadProblem(files) {
  const unsupported = files.filter((file) => !kindOf(file));
  if (unsupported.length) {
    const names = unsupported.map((file) => `"${file.name}"${file.type ? ` (${file.type})` : ""}`).join(", ");
    return `${names} ${unsupported.length === 1 ? "is" : "are"} not a PDF or a PNG, JPEG, TIFF or WebP image; Étude reads only those.`;
  }
  const pdfs = files.filter((file) => kindOf(file) === "pdf");
  if (files.length > 1 && pdfs.length) {
    return `Choose one PDF, or page images only: several files are read as the images of one document's pages, and "${pdfs[0].name}" is a PDF.`;
  }
  return null;
}

function chosenFiles() {
  return inPageOrder($("#pdf-file").files);
}

function showChosen() {
  const files = chosenFiles();
  const problem = files.length ? uploadProblem(files) : null;
  showError("#upload-error", problem ? new Error(problem) : null);
  $("#upload-button").disabled = !files.length || Boolean(problem);
  const text = !files.length
    ? DROP_TEXT
    : files.length === 1
      ? files[0].name
      : `${files.length} images, read as ${files.length} pages in this order:`;
  $("#drop-text").textContent = text;
  const list = $("#upload-files");
  list.replaceChildren(
    ...(files.length > 1 ? files : []).map((file) => {
      const item = document.createElement("li");
      item.textContent = file.name;
      return item;
    }),
  );
  list.hidden = files.length < 2;
}

function setUpUpload() {
  const input = $("#pdf-file");
  const zone = $("#drop-zone");
  input.addEventListener("change", showChosen);
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
    const files = chosenFiles();
    if (files.length) await upload(files);
  });
}

async function upload(files) {
  const problem = uploadProblem(files);
  showError("#upload-error", problem ? new Error(problem) : null);
  if (problem) return;
  $("#upload-button").disabled = true;
  try {
    const form = new FormData();
    // Each file as chosen, with its own type, in page order (one `file` part per page image):
    // the gateway, not the page, decides what a PDF or an image is.
    for (const file of files) form.append("file", file, file.name);
    const response = await api("/v1/jobs", { method: "POST", body: form });
    const job = jobOf(await response.json());
    // The original is shown from the files chosen here, without fetching it back; but browsers
    // draw no TIFF, so a TIFF's pages come from the gateway as PNGs (original()).
    if (kindOf(files[0]) === "pdf") {
      view.originals.set(field(job, "id"), files[0].arrayBuffer().then((bytes) => ({ kind: "pdf", bytes })));
    } else if (!files.some(isTiff)) {
      view.originals.set(field(job, "id"), Promise.resolve({ kind: "images", page: async (index) => pageFile(files, index) }));
    }
    openJob(job);
    refreshJobs();
  } catch (error) {
    showError("#upload-error", error);
  } finally {
    const chosen = chosenFiles();
    $("#upload-button").disabled = !chosen.length || Boolean(uploadProblem(chosen));
  }
}

// ---- one job, live ---------------------------------------------------------------------------

function openJob(job) {
  view.watch?.abort();
  view.job = job;
  view.score = null;
  view.pageScores = new Map();
  view.page = 0;
  delete document.body.dataset.rendered;
  delete document.body.dataset.preview;
  $("#event-log").replaceChildren();
  $("#pages").replaceChildren();
  $("#warnings").replaceChildren();
  $("#warnings-box").hidden = true;
  $("#job-meta").hidden = true;
  $("#original").dataset.shown = "";
  $("#score").dataset.shown = "";
  $("#job-section").hidden = false;
  showError("#job-error", null);
  // The job in the address, so that a reload opens it again.
  history.replaceState(null, "", `${location.pathname}${location.search}#job=${encodeURIComponent(field(job, "id"))}`);
  renderJob(job);
  const state = stateOf(job);
  if (TERMINAL.has(state)) {
    finish(job);
  } else {
    watch(field(job, "id"));
    // The original (uploaded here or fetched from the gateway) is shown while the music is read.
    showViewer().catch((error) => showError("#job-error", error));
  }
}

// Reopens the job named in the address (#job=…) after a reload.
async function reopenJob() {
  const id = new URLSearchParams(location.hash.slice(1)).get("job");
  if (!id) return;
  try {
    const response = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    openJob(jobOf(await response.json()));
  } catch (error) {
    showError("#jobs-error", error);
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
    const index = Number(field(page, "page_index") || 0);
    logEvent("page", `page ${index + 1} done`);
    markPage(index);
    pageScore(index).catch(() => {}); // fetched now, so it is ready when shown
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
  badge.textContent = describe(job);
  badge.dataset.state = state;
  $("#job-progress").max = Math.max(pageCount, 1);
  $("#job-progress").value = state === "OMR_COMPLETED" ? Math.max(pageCount, 1) : pagesDone;
  $("#job-summary").textContent = pageCount
    ? `${pagesDone} of ${pageCount} page${pageCount === 1 ? "" : "s"} recognised` + (field(job, "cached") ? " (reused)" : "")
    : state === "PENDING"
      ? "waiting for a free worker…"
      : "counting the pages…";
  $("#cancel-button").hidden = TERMINAL.has(state);
  const pages = $("#pages");
  for (let index = pages.children.length; index < pageCount; index++) {
    const item = document.createElement("li");
    item.textContent = String(index + 1);
    item.title = `Page ${index + 1}`;
    item.addEventListener("click", () => goToPage(index));
    pages.append(item);
  }
  for (let index = 0; index < Math.min(pagesDone, pageCount); index++) markPage(index);
  // Keep this job's row in the list in step.
  const row = document.querySelector(`#jobs tr[data-job-id="${CSS.escape(String(field(job, "id")))}"]`);
  if (row) {
    row.cells[1].textContent = describe(job);
    row.cells[2].textContent = `${pagesDone}/${pageCount || "?"}`;
  }
  if (state === "OMR_FAILED" || state === "CANCELLED") {
    showError("#job-error", new Error(field(job, "error") || describe(job)));
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
    // Failed or cancelled: the original and the pages read so far stay worth a look.
    await showViewer().catch((error) => showError("#job-error", error));
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
    showWarnings(ir.warnings || [], ir.measures || []);
    showMetadata(ir);
    await showViewer();
  } catch (error) {
    showError("#job-error", error);
  }
}

// What the document states of itself (title, composer, tempo text: a born-digital PDF's text);
// a document that states no title is named by its file, and the page says that it is the file.
function showMetadata(ir) {
  const metadata = field(ir, "metadata") || {};
  const title = field(metadata, "title");
  const composer = field(metadata, "composer");
  const tempo = field(metadata, "tempo_text");
  const parts = [title ? `“${title}”` : "No title found in the document (named above by its file)"];
  if (composer) parts.push(`by ${composer}`);
  if (tempo) parts.push(`tempo: ${tempo}`);
  const element = $("#job-meta");
  element.textContent = parts.join(" · ");
  element.hidden = false;
}

function scoreResponse(id, format) {
  return api(`/v1/jobs/${encodeURIComponent(id)}/score?format=${format}`);
}

async function download(format) {
  const id = field(view.job, "id");
  try {
    const blob = await (await scoreResponse(id, format)).blob();
    const base = (field(view.job, "file_name") || id).replace(/\.(pdf|png|jpe?g|tiff?|webp)$/i, "");
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

function goToPage(index) {
  view.page = index;
  showViewer().catch((error) => showError("#job-error", error));
}

async function renderPage() {
  const pages = pageCount();
  view.page = Math.min(Math.max(view.page, 0), pages - 1);
  $("#viewer-page").textContent = String(view.page + 1);
  $("#viewer-pages").textContent = String(pages);
  $("#prev-page").disabled = view.page === 0;
  $("#next-page").disabled = view.page >= pages - 1;
  for (const [index, item] of [...$("#pages").children].entries()) {
    item.classList.toggle("shown", index === view.page);
  }
  $("#viewer-status").textContent = "rendering…";
  const job = view.job;
  const page = view.page;
  const placed = `${field(job, "id")}:${page}`;
  if (view.placed !== placed) {
    view.placed = placed;
    view.selected = null; // a pick belongs to its page
    view.shownIr = null;
  }
  const [, shown] = await Promise.all([renderOriginal(page), renderScore(page)]);
  if (field(view.job, "id") !== field(job, "id") || view.page !== page) return; // another job or page opened meanwhile
  drawBoxes(page);
  $("#viewer-status").textContent = "";
  // For tests and scripts: which job and page are on screen, and from which score.
  if (shown === "score") document.body.dataset.rendered = `${field(job, "id")}:${page}`;
  else if (shown === "page") document.body.dataset.preview = `${field(job, "id")}:${page}`;
}

function isTiff(file) {
  return file.type === "image/tiff" || /\.tiff?$/i.test(file.name);
}

// Page `index` of images chosen here (none a TIFF, so each file is one page).
function pageFile(files, index) {
  if (index >= files.length) throw new Error(`page ${index + 1} is not in the files chosen`);
  return files[index];
}

// The job's original: the files chosen on this page, else the gateway's copy. File 0 says what
// the job was made from (x-etude-original-kind: pdf or images) and how many files it holds; the
// other page images are fetched when their page is first shown.
function original(id) {
  if (!view.originals.has(id)) {
    const base = `/v1/jobs/${encodeURIComponent(id)}/original`;
    const loaded = api(`${base}/0`).then(async (response) => {
      const type = response.headers.get("content-type") || "";
      const kind = response.headers.get("x-etude-original-kind") || (type.startsWith("image/") ? "images" : "pdf");
      if (kind === "pdf") return { kind, bytes: await response.arrayBuffer() };
      return remoteImages(base, Number(response.headers.get("x-etude-original-files") || 1), response);
    });
    loaded.catch(() => view.originals.delete(id)); // a failed fetch is tried again next time
    view.originals.set(id, loaded);
  }
  return view.originals.get(id);
}

// The page images of an image job, from the gateway. Each file holds x-etude-original-frames
// pages (a TIFF's frames, else 1); a TIFF page comes as a PNG (?as=png&frame=K), since browsers
// draw no TIFF, any other as uploaded. Files and pages are fetched once, when first needed.
function remoteImages(base, count, firstResponse) {
  const cached = new Map();
  const once = (key, load) => {
    if (!cached.has(key)) {
      const promise = load();
      promise.catch(() => cached.delete(key)); // fetched again next time
      cached.set(key, promise);
    }
    return cached.get(key);
  };
  const described = (response) => {
    const type = (response.headers.get("content-type") || "").split(";")[0];
    const frames = Number(response.headers.get("x-etude-original-frames") || 1);
    if (type === "image/tiff") response.body?.cancel(); // its PNG frames are drawn instead
    return { type, frames, blob: type === "image/tiff" ? null : response.blob() };
  };
  cached.set("file 0", Promise.resolve(described(firstResponse)));
  const file = (index) => once(`file ${index}`, () => api(`${base}/${index}`).then(described));
  const page = async (index) => {
    let start = 0; // the first page of file `f`
    for (let f = 0; f < count; f++) {
      const { type, frames, blob } = await file(f);
      if (index < start + frames) {
        if (type !== "image/tiff") return blob;
        return once(`png ${f}:${index - start}`, () => api(`${base}/${f}?as=png&frame=${index - start}`).then((r) => r.blob()));
      }
      start += frames;
    }
    throw new Error(`page ${index + 1} is not in the original (it has ${start})`);
  };
  return { kind: "images", page };
}

// The PDF of a job, parsed once by pdf.js (the loading task is kept per job).
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
  if (holder.dataset.shown === `${id}:${page}`) return; // already on screen
  let canvas;
  try {
    const source = await original(id);
    const first = Number(field(field(view.job, "options"), "first_page") || 0);
    canvas =
      source.kind === "pdf"
        ? await pdfCanvas(await pdfDocument(id, source.bytes), page + first, holder)
        : await imageCanvas(source, page + first);
  } catch (error) {
    pdfDocuments.delete(id);
    holder.replaceChildren(note(`The original could not be loaded: ${error.message || error}`));
    holder.dataset.shown = "";
    return;
  }
  if (field(view.job, "id") !== id || view.page !== page) return;
  // The canvas in a sheet that the note boxes are laid over (drawBoxes).
  const sheet = document.createElement("div");
  sheet.className = "sheet";
  sheet.append(canvas);
  holder.replaceChildren(sheet);
  holder.dataset.shown = `${id}:${page}`;
  holder.dataset.kind = canvas.dataset.kind;
}

async function pdfCanvas(documentProxy, index, holder) {
  const pdfPage = await documentProxy.getPage(index + 1);
  const base = pdfPage.getViewport({ scale: 1 });
  // Drawn at twice the pane's width so that zooming in stays sharp.
  const viewport = pdfPage.getViewport({ scale: (2 * (holder.clientWidth || 600)) / base.width });
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(viewport.width);
  canvas.height = Math.round(viewport.height);
  await pdfPage.render({ canvas, canvasContext: canvas.getContext("2d"), viewport }).promise;
  canvas.dataset.kind = "pdf";
  return canvas;
}

// A page image of an image job: a file as uploaded, or a TIFF frame as the gateway's PNG.
async function imageCanvas(source, index) {
  const blob = await source.page(index);
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    throw new Error(`this browser cannot draw ${blob.type || "this image"} (page ${index + 1}); the gateway keeps it as uploaded`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext("2d");
  context.fillStyle = "white"; // a transparent PNG shows on paper, as it was read
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  canvas.dataset.kind = "image";
  return canvas;
}

// One page's score, assembled by the gateway from that page alone (before the job completes).
function pageScore(index) {
  const id = field(view.job, "id");
  if (!view.pageScores.has(index)) {
    const base = `/v1/jobs/${encodeURIComponent(id)}/pages/${index}/score`;
    const score = Promise.all([
      api(`${base}?format=json`).then((response) => response.json()),
      api(`${base}?format=musicxml`).then((response) => response.text()),
    ]).then(([ir, musicxml]) => {
      if (field(view.job, "id") === id && !view.score) addPageWarnings(ir);
      return { ir, musicxml };
    });
    score.catch(() => view.pageScores.delete(index)); // not read yet, or a hiccup: ask again later
    view.pageScores.set(index, score);
  }
  return view.pageScores.get(index);
}

// Measures of one page, as 1-based positions in the exported MusicXML (IR measure index + 1).
function measureRange(ir, page) {
  const indices = (ir.measures || [])
    .filter((measure) => Number(field(measure, "page_index") || 0) === page)
    .map((measure) => Number(field(measure, "index") || 0));
  if (!indices.length) return null;
  return `${Math.min(...indices) + 1}-${Math.max(...indices) + 1}`;
}

// Draws the recognised music of a page: from the job's score once it is complete, else from the
// page's own score as soon as that page is read. Returns "score", "page" or "" (nothing drawn).
async function renderScore(page) {
  const holder = $("#score");
  const id = field(view.job, "id");
  let source = view.score ? "score" : "";
  let score = view.score;
  let range = null;
  if (score) {
    range = measureRange(score.ir, page);
  } else if ($("#pages").children[page]?.classList.contains("done")) {
    if (!holder.dataset.shown.startsWith(`${id}:${page}:`)) holder.replaceChildren(note("Page read; drawing its score…"));
    try {
      score = await pageScore(page);
      source = "page";
    } catch (error) {
      holder.replaceChildren(note(`The page's score could not be loaded: ${error.message || error}`));
      holder.dataset.shown = "";
      return "";
    }
  } else {
    holder.replaceChildren(note(TERMINAL.has(stateOf(view.job)) ? "This page was not read." : "Reading this page…"));
    holder.dataset.shown = "";
    $("#score-source").textContent = "";
    return "";
  }
  const key = `${id}:${page}:${source}`;
  view.shownIr = score.ir;
  if (holder.dataset.shown === key) return source; // already on screen
  if (source === "score" && !range) {
    holder.replaceChildren(note("No music was recognised on this page."));
    holder.dataset.shown = key;
    return source;
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
  const { musicxml, marked } = linkNotes(score.musicxml, score.ir);
  if (!toolkit.loadData(musicxml)) throw new Error("Verovio could not read the MusicXML");
  // A page's own score is drawn whole; the job's score, only this page's measures.
  toolkit.select(range ? { measureRange: range } : {});
  toolkit.redoLayout();
  const svgs = [];
  for (let index = 1; index <= toolkit.getPageCount(); index++) svgs.push(toolkit.renderToSVG(index));
  if (field(view.job, "id") !== id || view.page !== page) return "";
  holder.innerHTML = svgs.join("");
  for (const id of marked) holder.querySelector(`g.note[id="${CSS.escape(id)}"]`)?.classList.add("low-confidence");
  tagRendered(holder, score.ir);
  holder.dataset.measures = range || "";
  holder.dataset.lowConfidence = String(holder.querySelectorAll("g.note.low-confidence").length);
  holder.dataset.shown = key;
  $("#confidence-key").hidden = !holder.querySelector("g.note.low-confidence"); // this page's, not the score's
  $("#score-source").textContent = source === "page" ? "(this page alone, until the whole score is ready)" : "";
  return source;
}

// ---- low-confidence notes --------------------------------------------------------------------

// Position of every note of a MusicXML document: key `measure|staff|onset|pitch` → <note>
// elements, measures counted per part from 0 (IR measure index), onsets in 1/960 quarter.
function musicxmlNotes(doc) {
  const found = new Map();
  for (const part of doc.querySelectorAll("part")) {
    let divisions = 1;
    [...part.querySelectorAll(":scope > measure")].forEach((measure, measureIndex) => {
      let position = 0;
      let last = 0;
      for (const child of measure.children) {
        const duration = Number(child.querySelector(":scope > duration")?.textContent || 0);
        if (child.tagName === "attributes") {
          divisions = Number(child.querySelector("divisions")?.textContent || divisions);
        } else if (child.tagName === "backup") {
          position -= duration;
        } else if (child.tagName === "forward") {
          position += duration;
        } else if (child.tagName === "note") {
          const chord = child.querySelector(":scope > chord");
          const onset = chord ? last : position;
          if (!chord) last = position;
          if (!chord && !child.querySelector(":scope > grace")) position += duration;
          const pitch = child.querySelector(":scope > pitch");
          if (!pitch) continue;
          const staff = Number(child.querySelector(":scope > staff")?.textContent || 1);
          const step = pitch.querySelector("step")?.textContent || "";
          const alter = Number(pitch.querySelector("alter")?.textContent || 0);
          const octave = pitch.querySelector("octave")?.textContent || "";
          const key = `${measureIndex}|${staff}|${Math.round((onset / divisions) * 960)}|${step}${alter}${octave}`;
          if (!found.has(key)) found.set(key, []);
          found.get(key).push(child);
        }
      }
    });
  }
  return found;
}

function rational(value) {
  const numerator = Number(field(value, "numerator") || 0);
  const denominator = Number(field(value, "denominator") || 1);
  return numerator / denominator;
}

// Every IR note and rest of a score, by id.
function eventsById(ir) {
  const events = new Map();
  for (const rest of ir.rests || []) events.set(String(field(rest, "id") || ""), { kind: "rest", event: rest });
  for (const irNote of ir.notes || []) events.set(String(field(irNote, "id") || ""), { kind: "note", event: irNote });
  events.delete("");
  return events;
}

// The IR id an engraved element stands for: its own id (the exporter writes each IR note's id on
// its MusicXML <note>, and Verovio keeps it), less the ".2", ".3"… of a long note's tied pieces.
function irIdOf(elementId, events) {
  if (events.has(elementId)) return elementId;
  const base = elementId.replace(/\.\d+$/, "");
  return events.has(base) ? base : null;
}

// The MusicXML with every IR note linked to its <note> by id, and the low-confidence ones
// coloured (Verovio draws a note's `color`); returns the ids of the coloured elements. The
// exporter writes the ids; a MusicXML made before it did (an older job's stored export) gets
// them here, each note found by its measure, staff, onset and pitch.
function linkNotes(musicxml, ir) {
  const doc = new DOMParser().parseFromString(musicxml, "application/xml");
  if (doc.querySelector("parsererror")) return { musicxml, marked: [] };
  const events = eventsById(ir);
  const linked = new Map(); // IR id → its <note> elements (a long note: several tied pieces)
  for (const element of doc.querySelectorAll("note[id]")) {
    const irId = irIdOf(element.getAttribute("id"), events);
    if (!irId) continue;
    if (!linked.has(irId)) linked.set(irId, []);
    linked.get(irId).push(element);
  }
  const missing = [...events.entries()].filter(([irId, { kind }]) => kind === "note" && !linked.has(irId));
  if (missing.length) {
    const staffNumbers = new Map();
    for (const part of ir.parts || []) {
      for (const [position, staff] of (field(part, "staves") || []).entries()) {
        staffNumbers.set(field(staff, "id"), Number(field(staff, "number") || position + 1));
      }
    }
    const measures = new Map((ir.measures || []).map((m) => [Number(field(m, "index") || 0), m]));
    const notes = musicxmlNotes(doc);
    for (const [irId, { event: irNote }] of missing) {
      const index = Number(field(irNote, "measure_index") || 0);
      const onset = rational(field(irNote, "onset_beats")) - rational(field(measures.get(index), "start_beats"));
      const pitch = field(irNote, "pitch") || {};
      const staff = staffNumbers.get(field(irNote, "staff_id")) || 1;
      const key = `${index}|${staff}|${Math.round(onset * 960)}|${field(pitch, "step") || ""}${Number(field(pitch, "alter") || 0)}${field(pitch, "octave") ?? ""}`;
      const element = notes.get(key)?.find((candidate) => !candidate.hasAttribute("id"));
      if (!element) continue;
      const safe = `ir-${irId}`.replace(/[^A-Za-z0-9_.-]/g, "_");
      element.setAttribute("id", safe);
      linked.set(irId, [element]);
    }
  }
  const marked = [];
  for (const [irId, elements] of linked) {
    const { kind, event } = events.get(irId);
    // An absent confidence (0 in the IR, omitted from its JSON) means "not given", not "doubtful".
    if (kind !== "note" || Number(field(event, "confidence") ?? 1) >= LOW_CONFIDENCE) continue;
    for (const element of elements) {
      element.setAttribute("color", LOW_COLOUR);
      marked.push(element.getAttribute("id"));
    }
  }
  return { musicxml: new XMLSerializer().serializeToString(doc), marked };
}

// Gives each engraved note and rest of the score pane the IR id it stands for (data-ir-id).
function tagRendered(holder, ir) {
  const events = eventsById(ir);
  const fallback = new Map(); // ids given by linkNotes to an older export's notes
  for (const irId of events.keys()) fallback.set(`ir-${irId}`.replace(/[^A-Za-z0-9_.-]/g, "_"), irId);
  for (const element of holder.querySelectorAll("g.note[id], g.rest[id], g.mRest[id]")) {
    const irId = irIdOf(element.id, events) || fallback.get(element.id);
    if (irId) element.dataset.irId = irId;
  }
  holder.dataset.linked = String(holder.querySelectorAll("[data-ir-id]").length);
}

// ---- boxes: where each note is on the original -----------------------------------------------

function boxesOn() {
  return localStorage.getItem(BOXES_KEY) === "on";
}

// The IR's notes and rests boxed on this page: [{ id, kind, box, confidence, label }].
function boxesOf(ir, page) {
  const found = [];
  for (const [id, { kind, event }] of eventsById(ir || {})) {
    const box = field(event, "box");
    if (!box || Number(field(box, "page_index") || 0) !== page) continue;
    const width = Number(field(box, "width") || 0);
    const height = Number(field(box, "height") || 0);
    if (!(width > 0 && height > 0)) continue;
    const confidence = Number(field(event, "confidence") ?? 1);
    const pitch = field(event, "pitch");
    const name = pitch
      ? `${field(pitch, "step") || ""}${["bb", "b", "", "#", "##"][Number(field(pitch, "alter") || 0) + 2] ?? ""}${field(pitch, "octave") ?? ""}`
      : "rest";
    found.push({
      id,
      kind,
      confidence,
      box: { x: Number(field(box, "x") || 0), y: Number(field(box, "y") || 0), width, height },
      label: `${name} (${id}), confidence ${confidence.toFixed(2)}`,
    });
  }
  return found;
}

const SVG_NS = "http://www.w3.org/2000/svg";

// Draws the boxes of the notes shown over the original page (an SVG laid over its canvas, in the
// canvas' pixels): blue, or orange below the low-confidence threshold, as in the score. With the
// toggle off only a picked note's box shows.
function drawBoxes(page) {
  const sheet = $("#original .sheet");
  const holder = $("#original");
  sheet?.querySelector("svg.boxes")?.remove();
  const boxes = sheet ? boxesOf(view.shownIr, page) : [];
  holder.dataset.boxes = String(boxes.length);
  $("#boxes-toggle").disabled = !boxes.length;
  $("#boxes-toggle-label").title = boxes.length
    ? `${boxes.length} notes and rests boxed on this page`
    : "no note on this page has a box (the model gave no positions)";
  if (!sheet || !boxes.length) return;
  const canvas = sheet.querySelector("canvas");
  const [width, height] = [canvas.width, canvas.height];
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("class", `boxes${boxesOn() ? "" : " off"}`);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  for (const { id, kind, confidence, box, label } of boxes) {
    const rect = document.createElementNS(SVG_NS, "rect");
    rect.setAttribute("x", String(box.x * width));
    rect.setAttribute("y", String(box.y * height));
    rect.setAttribute("width", String(box.width * width));
    rect.setAttribute("height", String(box.height * height));
    rect.setAttribute("class", `box ${kind}${confidence < LOW_CONFIDENCE ? " low-confidence" : ""}`);
    rect.dataset.noteId = id;
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = label;
    rect.append(title);
    svg.append(rect);
  }
  sheet.append(svg);
  showSelected(null);
}

function setUpBoxes() {
  const toggle = $("#boxes-toggle");
  toggle.checked = boxesOn();
  toggle.addEventListener("change", () => {
    localStorage.setItem(BOXES_KEY, toggle.checked ? "on" : "off");
    $("#original svg.boxes")?.classList.toggle("off", !toggle.checked);
  });
  // A box picked on the original: its note in the score; a note picked in the score: its box.
  $("#original").addEventListener("click", (event) => {
    const rect = event.target.closest?.("rect.box");
    if (rect) select(rect.dataset.noteId, "original");
  });
  $("#score").addEventListener("click", (event) => {
    const element = event.target.closest?.("[data-ir-id]");
    if (element) select(element.dataset.irId, "score");
  });
}

// Marks one IR note or rest as picked in both panes and brings the other pane's copy into view.
function select(irId, from) {
  view.selected = irId;
  showSelected(from);
}

function showSelected(from) {
  const irId = view.selected;
  for (const element of document.querySelectorAll("#original rect.box.selected, #score .selected")) {
    element.classList.remove("selected");
  }
  if (!irId) {
    delete document.body.dataset.selected;
    $("#selected-note").textContent = "";
    return;
  }
  const rect = $(`#original rect.box[data-note-id="${CSS.escape(irId)}"]`);
  const engraved = [...document.querySelectorAll(`#score [data-ir-id="${CSS.escape(irId)}"]`)];
  rect?.classList.add("selected");
  rect?.parentNode.append(rect); // drawn last: on top of its neighbours
  for (const element of engraved) element.classList.add("selected");
  document.body.dataset.selected = irId;
  $("#selected-note").textContent = rect ? rect.querySelector("title").textContent : `${irId} (no box)`;
  if (from === "score" && rect) scrollIntoPane(rect, $("#original"));
  if (from === "original" && engraved.length) scrollIntoPane(engraved[0], $("#score"));
}

// Scrolls a pane (not the window) so that an element inside it is in view, centred if it was not.
function scrollIntoPane(element, pane) {
  const box = element.getBoundingClientRect();
  const frame = pane.getBoundingClientRect();
  if (box.top < frame.top || box.bottom > frame.bottom) {
    pane.scrollTop += box.top + box.height / 2 - (frame.top + frame.height / 2);
  }
  if (box.left < frame.left || box.right > frame.right) {
    pane.scrollLeft += box.left + box.width / 2 - (frame.left + frame.width / 2);
  }
}

// ---- warnings --------------------------------------------------------------------------------

const WARNING_WORDS = {
  WARNING_CODE_NO_MUSIC: "no music found",
  WARNING_CODE_UNDECODABLE_STAFF: "a staff could not be fully read",
  WARNING_CODE_MEASURE_MISMATCH: "staves disagree on the measures",
  WARNING_CODE_MEASURE_DURATION: "a measure's length does not match its time signature",
};

// "page 2, measure 14" for a warning; its message's leading "measure N:"/"system N:" (0-based
// within the page) becomes the measure's printed number / a 1-based system.
function warningPlace(warning, measures) {
  const page = Number(field(warning, "page_index") || 0);
  let message = String(field(warning, "message") || "");
  let place = `page ${page + 1}`;
  const match = /^(measure|system) (\d+): /.exec(message);
  if (match) {
    message = message.slice(match[0].length);
    const position = Number(match[2]);
    if (match[1] === "system") {
      place += `, system ${position + 1}`;
    } else {
      const onPage = measures
        .filter((m) => Number(field(m, "page_index") || 0) === page)
        .sort((a, b) => Number(field(a, "index") || 0) - Number(field(b, "index") || 0));
      const measure = onPage[position];
      const number = measure ? field(measure, "number") || String(Number(field(measure, "index") || 0) + 1) : "";
      place += number ? `, measure ${number}` : `, measure ${position + 1} of the page`;
    }
  }
  return { page, place, message };
}

function warningItem(warning, measures) {
  const { page, place, message } = warningPlace(warning, measures);
  const item = document.createElement("li");
  item.dataset.page = String(page);
  const link = document.createElement("a");
  link.textContent = place;
  link.addEventListener("click", () => goToPage(page));
  const code = String(field(warning, "code") || "");
  item.append(link, `: ${WARNING_WORDS[code] || code.replace(/^WARNING_CODE_/, "").toLowerCase()}`);
  if (message) item.append(` — ${message}`);
  return item;
}

function showWarnings(warnings, measures) {
  const items = warnings
    .map((warning) => warningItem(warning, measures))
    .sort((a, b) => Number(a.dataset.page) - Number(b.dataset.page));
  $("#warnings").replaceChildren(...items);
  renderWarningsTitle();
}

// While the job runs, each page's warnings join the list as the page arrives.
function addPageWarnings(ir) {
  const items = (ir.warnings || []).map((warning) => warningItem(warning, ir.measures || []));
  const list = $("#warnings");
  for (const item of items) {
    const after = [...list.children].find((other) => Number(other.dataset.page) > Number(item.dataset.page));
    list.insertBefore(item, after || null);
  }
  renderWarningsTitle();
}

function renderWarningsTitle() {
  const count = $("#warnings").children.length;
  $("#warnings-box").hidden = !count;
  $("#warnings-title").textContent = `${count} warning${count === 1 ? "" : "s"}`;
}

// ---- zoom ------------------------------------------------------------------------------------

function setUpZoom() {
  for (const control of document.querySelectorAll(".zoom")) {
    const pane = control.dataset.pane;
    for (const button of control.querySelectorAll("button")) {
      button.addEventListener("click", () => {
        const at = ZOOMS.indexOf(view.zoom[pane]);
        const next = ZOOMS[Math.min(Math.max(at + (button.dataset.zoom === "in" ? 1 : -1), 0), ZOOMS.length - 1)];
        view.zoom[pane] = next;
        $(`#${pane}`).style.setProperty("--zoom", String(next));
        control.querySelector("output").textContent = `${Math.round(next * 100)}%`;
      });
    }
  }
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
        describe(job),
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
  // Refused for want of a token: whatever the config said, offer the box.
  if (error instanceof ApiError && error.status === 401) $("#token-form").hidden = false;
  const element = $(selector);
  element.hidden = !error;
  element.textContent = error ? error.message || String(error) : "";
}

function setUp() {
  setUpToken();
  setUpAuth();
  setUpUpload();
  setUpZoom();
  setUpBoxes();
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
  reopenJob();
}

setUp();
