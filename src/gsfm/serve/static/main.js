// The gsfm serve page: open a video, browse, paint masks, propagate, correct, look, export.
import { getJSON, sendJSON, sendBytes, upload, getMask, postForBytes } from "./api.js";
import { stroke, polygon, fill, History } from "./paint.js";
import { BoxTools } from "./boxtools.js";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d", { willReadFrequently: true });

const state = {
  session: null,       // the server's session info
  index: 0,            // frame shown
  target: 0,           // frame asked for (ahead of `index` while it loads)
  image: null,         // its decoded frame
  labels: null,        // its mask (Uint8Array H*W) or null
  active: 0,           // object painted with
  hidden: new Set(),   // objects not drawn
  points: [],          // polygon corners so far
  painting: null,      // last brush point while the button is down
  history: new History(),
  playing: false,
  source: null,        // EventSource of a running propagation
  masks: new Map(),    // frame -> mask cache (null = none)
  frames: new Map(),   // frame -> Promise<HTMLImageElement>
  loadToken: 0,
  config: null,        // the server's settings (upload limit, --root)
  decoded: 0,          // frames in the session's cache so far
};

const api = (path) => `/api/sessions/${state.session.id}${path}`;

// ---------------------------------------------------------------- messages

function say(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

async function guarded(action) {
  try {
    await action();
  } catch (err) {
    say(err.message || String(err));
  }
}

// ---------------------------------------------------------------- opening

async function openFile(file) {
  say("");
  if (state.config && file.size > state.config.max_upload_bytes) {
    const mib = (n) => `${Math.round(n / 1048576)} MiB`;
    throw new Error(`${file.name} is ${mib(file.size)}, over the server's ${mib(state.config.max_upload_bytes)} upload limit (--max-upload-mb)`);
  }
  const bar = $("upload-progress");
  bar.hidden = false;
  bar.value = 0;
  try {
    const info = await upload(`/api/sessions?name=${encodeURIComponent(file.name)}`, file, (f) => {
      bar.value = f;
      if (f >= 1) say(`decoding the frames of ${file.name}…`, "info");
    });
    say("");
    await start(info);
  } finally {
    bar.hidden = true;
    $("file").value = "";
  }
}

async function start(info) {
  if (state.source) state.source.close();
  state.session = info;
  state.masks.clear();
  state.frames.clear();
  state.history.reset();
  state.points = [];
  state.hidden.clear();
  boxTools.forget();
  canvas.width = info.width;
  canvas.height = info.height;
  $("slider").max = info.frames - 1;
  $("video-info").textContent =
    `${info.title} · ${info.frames} frames · ${info.width}×${info.height} · ${info.fps.toFixed(2)} fps`;
  $("export").classList.remove("disabled");
  $("export").href = api("/export");
  if (!info.objects.length) await addObject();
  else { state.active = info.objects[0].id; showObjects(); }
  showAnnotated();
  state.image = null;
  const job = info.job;
  if (job && job.kind === "decode" && job.state !== "running" && job.state !== "done") {
    // decoding already failed (a damaged frame early on) before the upload was answered
    return closeSession(`cannot open ${info.title}: ${job.error || job.state}`);
  }
  const decoding = job && job.kind === "decode" && job.state === "running";
  state.decoded = decoding ? job.count : info.frames;
  if (state.decoded > 0) await goTo(0);
  if (job && job.state === "running") follow(job.kind);
}

function closeSession(message) {
  const info = state.session;
  state.session = null;
  state.image = null;
  $("video-info").textContent = "no video";
  $("export").classList.add("disabled");
  say(message);
  if (info) fetch(`/api/sessions/${info.id}`, { method: "DELETE" });
}

// Files under --root: choosing a folder lists it; "Open" opens a file, or the listed folder's frames.
async function loadRootEntries(path = "") {
  const entries = await getJSON(`/api/files?path=${encodeURIComponent(path)}`);
  const select = $("root-entries");
  select.innerHTML = "";
  select.add(new Option(path ? `${path}/ (its frames)` : "files under --root", JSON.stringify({ path, here: true })));
  if (path) select.add(new Option("..", JSON.stringify({ path: path.split("/").slice(0, -1).join("/"), folder: true })));
  for (const e of entries) select.add(new Option(e.folder ? `${e.name}/` : e.name, JSON.stringify(e)));
}

async function rootChoice() {
  const entry = JSON.parse($("root-entries").value || "null");
  if (entry && entry.folder) await loadRootEntries(entry.path);
}

async function openRootEntry() {
  const entry = JSON.parse($("root-entries").value || "null");
  if (!entry || (entry.here && !entry.path)) throw new Error("choose a video, a zip or a folder of frames");
  say("opening…", "info");
  await start(await sendJSON("POST", "/api/sessions/open", { path: entry.path }));
  say("");
}

// ---------------------------------------------------------------- frames and drawing

function frameImage(index) {
  if (!state.frames.has(index)) {
    const img = new Image();
    img.src = api(`/frames/${index}`);
    const ready = img.decode().then(() => img);
    ready.catch(() => state.frames.delete(index));
    state.frames.set(index, ready);
    if (state.frames.size > 64) state.frames.delete(state.frames.keys().next().value);
  }
  return state.frames.get(index);
}

async function frameMask(index) {
  if (!state.masks.has(index)) state.masks.set(index, await getMask(api(`/masks/${index}`)));
  return state.masks.get(index);
}

async function goTo(index) {
  if (!state.session) return;
  index = Math.max(0, Math.min(state.decoded - 1, index));
  if (index < 0) return;
  state.target = index;
  const token = ++state.loadToken;
  const [image, labels] = await Promise.all([frameImage(index), frameMask(index)]);
  if (token !== state.loadToken) return; // a later request won
  if (index !== state.index) { state.history.reset(); state.points = []; }
  state.index = index;
  boxTools.frameShown(index);
  state.image = image;
  state.labels = labels ? labels.slice() : null;
  $("slider").value = index;
  $("frame-number").textContent = `${index} / ${state.session.frames - 1}`;
  canvas.dataset.frame = String(index);
  render();
  frameImage(index + 1); // read ahead for playback
}

function colourOf(id) {
  const obj = state.session.objects.find((o) => o.id === id);
  return obj ? obj.colour : [255, 255, 255];
}

function render() {
  if (!state.image) return;
  const { width, height } = canvas;
  ctx.drawImage(state.image, 0, 0, width, height);
  const labels = state.labels;
  if (labels) {
    const alpha = Number($("opacity").value) / 100;
    const outline = $("outline").checked;
    const picture = ctx.getImageData(0, 0, width, height);
    const px = picture.data;
    const colours = new Map(state.session.objects.map((o) => [o.id, o.colour]));
    for (let p = 0; p < labels.length; p++) {
      const id = labels[p];
      if (!id || state.hidden.has(id)) continue;
      const c = colours.get(id) || [255, 255, 255];
      const x = p % width;
      const edge = outline && (
        (x > 0 && labels[p - 1] !== id) || (x < width - 1 && labels[p + 1] !== id) ||
        (p >= width && labels[p - width] !== id) || (p + width < labels.length && labels[p + width] !== id));
      const a = edge ? 1 : alpha;
      const q = p * 4;
      for (let k = 0; k < 3; k++) px[q + k] = px[q + k] * (1 - a) + c[k] * a;
    }
    ctx.putImageData(picture, 0, 0);
  }
  if (state.points.length) {
    ctx.strokeStyle = `rgb(${colourOf(state.active).join(",")})`;
    ctx.lineWidth = Math.max(1, width / 400);
    ctx.beginPath();
    state.points.forEach((p, i) => (i ? ctx.lineTo(p.x, p.y) : ctx.moveTo(p.x, p.y)));
    ctx.stroke();
    ctx.fillStyle = "#fff";
    for (const p of state.points) ctx.fillRect(p.x - 2, p.y - 2, 4, 4);
  }
  boxTools.draw(ctx);
}

// ---------------------------------------------------------------- painting

function tool() {
  return document.querySelector("input[name=tool]:checked").value;
}

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * canvas.width) / rect.width,
    y: ((event.clientY - rect.top) * canvas.height) / rect.height,
  };
}

function editable() {
  if (!state.session) return false;
  if (state.source) { say("wait for the propagation to finish, or cancel it, before painting"); return false; }
  if (!state.active && tool() !== "eraser") { say("add an object first"); return false; }
  if (!state.labels) state.labels = new Uint8Array(canvas.width * canvas.height);
  return true;
}

async function save() {
  const index = state.index;
  const labels = state.labels.slice();
  state.masks.set(index, labels.some((v) => v) ? labels : null);
  await guarded(async () => {
    const info = await sendBytes("PUT", api(`/annotations/${index}`), labels);
    refreshSession(info);
  });
}

// Box / Add / Remove (boxtools.js): a mask from a box, corrected with strokes, by the server.
const boxTools = new BoxTools({
  canvas, state, api, imagePoint, editable, render, save, say, colourOf,
  radius: () => brushRadius(),
  post: postForBytes,
});

canvas.addEventListener("pointerdown", (event) => {
  if (boxTools.handles(tool())) {
    if (event.button === 0) boxTools.down(event, tool());
    return;
  }
  if (event.button !== 0 || !editable()) return;
  canvas.focus();
  const p = imagePoint(event);
  const kind = tool();
  const { width, height } = canvas;
  if (kind === "brush" || kind === "eraser") {
    state.history.push(state.labels);
    canvas.setPointerCapture(event.pointerId);
    state.painting = p;
    stroke(state.labels, width, height, p, p, brushRadius(), kind === "eraser" ? 0 : state.active);
    render();
  } else if (kind === "polygon") {
    const first = state.points[0];
    const near = first && Math.hypot(first.x - p.x, first.y - p.y) * (canvas.getBoundingClientRect().width / width) < 8;
    if (near && state.points.length >= 3) closePolygon();
    else { state.points.push(p); render(); }
  } else if (kind === "fill") {
    const x = Math.floor(p.x), y = Math.floor(p.y);
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    state.history.push(state.labels);
    fill(state.labels, width, height, x, y, state.active);
    render();
    save();
  }
});

canvas.addEventListener("pointermove", (event) => {
  if (boxTools.move(event)) return;
  if (!state.painting) return;
  const p = imagePoint(event);
  const id = tool() === "eraser" ? 0 : state.active;
  stroke(state.labels, canvas.width, canvas.height, state.painting, p, brushRadius(), id);
  state.painting = p;
  render();
});

function endStroke() {
  if (boxTools.drag) { boxTools.up(); return; }
  if (!state.painting) return;
  state.painting = null;
  save();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function brushRadius() {
  return Number($("brush-size").value) / 2;
}

function closePolygon() {
  if (state.points.length < 3) return;
  state.history.push(state.labels);
  polygon(state.labels, canvas.width, canvas.height, state.points, state.active);
  state.points = [];
  render();
  save();
}

function undoRedo(which) {
  if (!state.labels) return;
  const restored = which === "undo" ? state.history.undo(state.labels) : state.history.redo(state.labels);
  if (!restored) return;
  boxTools.forgetStrokes();
  state.labels = restored;
  render();
  save();
}

// ---------------------------------------------------------------- objects

function refreshSession(info) {
  state.session = info;
  showObjects();
  showAnnotated();
}

function showAnnotated() {
  const frames = state.session.annotated;
  $("annotated").textContent = frames.length ? `Your masks on frames: ${frames.join(", ")}` : "No mask drawn yet.";
}

function showObjects() {
  const list = $("objects");
  list.innerHTML = "";
  for (const obj of state.session.objects) {
    const li = document.createElement("li");
    li.className = obj.id === state.active ? "active" : "";
    li.dataset.id = obj.id;
    const pick = document.createElement("input");
    pick.type = "radio";
    pick.name = "object";
    pick.checked = obj.id === state.active;
    pick.title = "paint this object";
    pick.onchange = () => { state.active = obj.id; showObjects(); };
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = `rgb(${obj.colour.join(",")})`;
    const name = document.createElement("input");
    name.type = "text";
    name.value = obj.name;
    name.onchange = () => guarded(async () => refreshSession(await sendJSON("PATCH", api(`/objects/${obj.id}`), { name: name.value })));
    const shown = document.createElement("input");
    shown.type = "checkbox";
    shown.checked = !state.hidden.has(obj.id);
    shown.title = "show";
    shown.onchange = () => { if (shown.checked) state.hidden.delete(obj.id); else state.hidden.add(obj.id); render(); };
    const remove = document.createElement("button");
    remove.textContent = "✕";
    remove.title = "delete this object on every frame";
    remove.onclick = () => guarded(async () => {
      refreshSession(await sendJSON("DELETE", api(`/objects/${obj.id}`)));
      if (state.active === obj.id) state.active = state.session.objects.length ? state.session.objects[0].id : 0;
      showObjects();
      state.masks.clear();
      await goTo(state.index);
    });
    li.append(pick, swatch, name, shown, remove);
    list.append(li);
  }
}

async function addObject() {
  const info = await sendJSON("POST", api("/objects"), { name: "" });
  state.active = info.object;
  refreshSession(info);
}

// ---------------------------------------------------------------- propagation

async function propagate(direction) {
  say("");
  const job = await sendJSON("POST", api("/propagate"), { start: state.index, direction });
  showProgress(job);
  follow("propagate");
}

// Follow the session's worker (decoding the frames, or a propagation) until it ends.
function follow(kind) {
  if (state.source) state.source.close();
  $("cancel").disabled = kind !== "propagate";
  $("forward").disabled = $("backward").disabled = true;
  const source = new EventSource(api("/events"));
  state.source = source;
  source.onmessage = async (event) => {
    const job = JSON.parse(event.data);
    showProgress(job);
    if (job.kind === "decode") {
      state.decoded = job.count;
      if (!state.image && job.count > 0) await goTo(0);
    } else {
      for (const i of job.new) state.masks.delete(i);
      if (job.new.includes(state.target) && !state.painting) await goTo(state.target);
    }
    if (job.state !== "running") {
      source.close();
      finish(job);
    }
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED && state.source === source) finish(null);
  };
}

function finish(job) {
  state.source = null;
  $("cancel").disabled = true;
  $("forward").disabled = $("backward").disabled = false;
  if (job && job.kind === "decode" && job.state !== "done") {
    return closeSession(`cannot open ${state.session.title}: ${job.error || job.state}`);
  }
  if (job && job.state === "failed") say(`propagation failed: ${job.error}`);
  if (job && job.state === "cancelled") say(`propagation cancelled after ${job.count} frames`, "info");
  if (job && job.kind === "decode") state.decoded = job.count;
  guarded(async () => refreshSession(await getJSON(api(""))));
}

function showProgress(job) {
  const bar = $("progress");
  bar.max = job.total;
  bar.value = job.count;
  bar.dataset.state = job.state;
  bar.dataset.kind = job.kind;
  const percent = Math.round((100 * job.count) / Math.max(1, job.total));
  const what = job.kind === "decode" ? "decoding frames" : `${job.direction} from ${job.start}`;
  $("progress-text").textContent = `${what}: ${job.count}/${job.total} (${percent}%) · ${job.fps} frames/s · ${job.state}`;
}

// ---------------------------------------------------------------- playback and keys

async function play() {
  state.playing = !state.playing;
  $("play").textContent = state.playing ? "❚❚" : "▶";
  while (state.playing && state.session) {
    const started = performance.now();
    if (state.target >= state.session.frames - 1) break;
    await goTo(state.target + 1);
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 / state.session.fps - (performance.now() - started))));
  }
  state.playing = false;
  $("play").textContent = "▶";
}

document.addEventListener("keydown", (event) => {
  if (event.target.matches("input[type=text]")) return;
  const key = event.key;
  if (key === "ArrowRight") { event.preventDefault(); goTo(state.target + 1); }
  else if (key === "ArrowLeft") { event.preventDefault(); goTo(state.target - 1); }
  else if (key === " ") { event.preventDefault(); play(); }
  else if (key === "Enter" && state.points.length) closePolygon();
  else if (key === "Escape") { state.points = []; render(); }
  else if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "z") { event.preventDefault(); undoRedo(event.shiftKey ? "redo" : "undo"); }
  else if ((event.ctrlKey || event.metaKey) && key.toLowerCase() === "y") { event.preventDefault(); undoRedo("redo"); }
});

// ---------------------------------------------------------------- wiring

$("file").addEventListener("change", () => { const f = $("file").files[0]; if (f) guarded(() => openFile(f)); });
$("slider").addEventListener("input", () => goTo(Number($("slider").value)));
$("play").onclick = () => play();
$("forward").onclick = () => guarded(() => propagate("forward"));
$("backward").onclick = () => guarded(() => propagate("backward"));
$("cancel").onclick = () => guarded(async () => showProgress(await sendJSON("POST", api("/cancel"))));
$("add-object").onclick = () => guarded(() => state.session ? addObject() : Promise.reject(new Error("open a video first")));
$("undo").onclick = () => undoRedo("undo");
$("redo").onclick = () => undoRedo("redo");
$("clear").onclick = () => { if (editable()) { boxTools.forget(); state.history.push(state.labels); state.labels.fill(0); render(); save(); } };
$("opacity").addEventListener("input", render);
$("outline").addEventListener("change", render);
document.querySelectorAll("input[name=tool]").forEach((r) => r.addEventListener("change", () => { state.points = []; render(); }));
$("import").addEventListener("change", () => guarded(async () => {
  const file = $("import").files[0];
  $("import").value = "";
  if (!file || !state.session) return;
  const url = api(`/annotations/${state.index}/import?name=${encodeURIComponent(file.name)}`);
  refreshSession(await sendBytes("POST", url, file));
  if (state.session.objects.length) state.active = state.active || state.session.objects[0].id;
  state.masks.delete(state.index);
  await goTo(state.index);
  showObjects();
}));
$("root-open").onclick = () => guarded(openRootEntry);
$("root-entries").addEventListener("change", () => guarded(rootChoice));

guarded(async () => {
  const config = await getJSON("/api/config");
  state.config = config;
  if (config.root) { $("root-picker").hidden = false; await loadRootEntries(); }
});
