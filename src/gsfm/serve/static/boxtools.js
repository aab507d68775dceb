// The Box / Add / Remove tools: a first mask from a box, corrected with strokes.
// Each action asks the server (POST /first-mask/{frame}: box, every stroke since the box,
// the object's current mask) for the object's new mask, then applies it as any edit is
// applied (undo history, then the usual save), so undo restores the mask before it.

const TOOLS = new Set(["box", "add", "remove"]);

function toBase64(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}

export class BoxTools {
  // page: { canvas, state, api, imagePoint, editable, render, save, say, colourOf, radius,
  //         post(url, body) -> Promise<Uint8Array> }
  constructor(page) {
    this.page = page;
    this.marks = new Map(); // object -> { box: [x0, y0, x1, y1] | null, strokes: [...] } on this frame
    this.frame = -1;
    this.drag = null;       // the box or stroke being drawn
    this.busy = false;
    this.done = 0;          // requests answered (canvas data-first-masks, for tests)
  }

  handles(tool) { return TOOLS.has(tool); }

  // The marks belong to one frame: another frame starts afresh.
  frameShown(index) {
    if (index !== this.frame) { this.marks.clear(); this.frame = index; this.drag = null; }
  }

  // Undo/redo and clearing restore masks the strokes were not made on: keep the box only.
  forgetStrokes() {
    for (const m of this.marks.values()) m.strokes = [];
  }

  forget() { this.marks.clear(); this.drag = null; }

  down(event, tool) {
    const { page } = this;
    if (this.busy) { page.say("still computing the last mask…", "info"); return; }
    if (!page.editable()) return;
    page.canvas.setPointerCapture(event.pointerId);
    const p = page.imagePoint(event);
    this.drag = tool === "box" ? { tool, start: p, end: p } : { tool, points: [p] };
    page.render();
  }

  move(event) {
    if (!this.drag) return false;
    const p = this.page.imagePoint(event);
    if (this.drag.tool === "box") this.drag.end = p;
    else this.drag.points.push(p);
    this.page.render();
    return true;
  }

  async up() {
    const drag = this.drag;
    if (!drag) return;
    this.drag = null;
    const { page } = this;
    const { width, height } = page.canvas;
    const object = page.state.active;
    if (drag.tool === "box") {
      const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
      const x0 = Math.floor(clamp(Math.min(drag.start.x, drag.end.x), width));
      const y0 = Math.floor(clamp(Math.min(drag.start.y, drag.end.y), height));
      const x1 = Math.ceil(clamp(Math.max(drag.start.x, drag.end.x), width));
      const y1 = Math.ceil(clamp(Math.max(drag.start.y, drag.end.y), height));
      if (x1 - x0 < 3 || y1 - y0 < 3) { page.render(); page.say("drag a box around the object", "info"); return; }
      const marks = { box: [x0, y0, x1, y1], strokes: [] };
      await this.compute(object, marks, null, () => this.marks.set(object, marks));
    } else {
      const stroke = {
        kind: drag.tool,
        radius: page.radius(),
        points: drag.points.map((p) => [p.x, p.y]),
      };
      const old = this.marks.get(object) || { box: null, strokes: [] };
      const marks = { box: old.box, strokes: [...old.strokes, stroke] };
      await this.compute(object, marks, this.objectMask(object), () => this.marks.set(object, marks));
    }
  }

  objectMask(object) {
    const labels = this.page.state.labels;
    if (!labels) return null;
    const mask = new Uint8Array(labels.length);
    let any = false;
    for (let p = 0; p < labels.length; p++) if (labels[p] === object) { mask[p] = 1; any = true; }
    return any ? mask : null;
  }

  async compute(object, marks, current, keep) {
    const { page } = this;
    const { state } = page;
    const index = state.index;
    this.setBusy(true);
    try {
      const body = { box: marks.box, strokes: marks.strokes, mask: current ? toBase64(current) : null };
      const mask = await page.post(page.api(`/first-mask/${index}`), body);
      if (state.index !== index || state.active !== object) return; // the user moved on
      keep();
      if (!state.labels) state.labels = new Uint8Array(mask.length);
      state.history.push(state.labels);
      const labels = state.labels;
      for (let p = 0; p < labels.length; p++) {
        if (mask[p]) { if (labels[p] === 0) labels[p] = object; }  // other objects keep theirs
        else if (labels[p] === object) labels[p] = 0;
      }
      page.say("");
      page.render();
      await page.save();
    } catch (err) {
      page.say(err.message || String(err));
      page.render();
    } finally {
      this.setBusy(false);
      page.canvas.dataset.firstMasks = String(++this.done);
    }
  }

  setBusy(busy) {
    this.busy = busy;
    const badge = document.getElementById("busy");
    if (badge) badge.hidden = !busy;
    this.page.canvas.classList.toggle("busy", busy);
  }

  // The box and strokes of the active object, and what is being drawn.
  draw(ctx) {
    const { page } = this;
    const scale = Math.max(1, page.canvas.width / 400);
    const object = page.state.active;
    const marks = this.marks.get(object);
    const rect = (box, colour) => {
      ctx.save();
      ctx.setLineDash([4 * scale, 3 * scale]);
      ctx.lineWidth = scale;
      ctx.strokeStyle = colour;
      ctx.strokeRect(box[0] + 0.5, box[1] + 0.5, box[2] - box[0] - 1, box[3] - box[1] - 1);
      ctx.restore();
    };
    const line = (points, radius, kind) => {
      ctx.save();
      ctx.globalAlpha = 0.6;
      ctx.strokeStyle = ctx.fillStyle = kind === "add" ? "#3c3" : "#e33";
      ctx.lineWidth = 2 * radius;
      ctx.lineCap = ctx.lineJoin = "round";
      ctx.beginPath();
      points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      if (points.length === 1) ctx.lineTo(points[0][0] + 0.01, points[0][1]);
      ctx.stroke();
      ctx.restore();
    };
    const colour = `rgb(${page.colourOf(object).join(",")})`;
    if (marks && marks.box) rect(marks.box, colour);
    if (marks) for (const s of marks.strokes) line(s.points, s.radius, s.kind);
    const d = this.drag;
    if (d && d.tool === "box") {
      rect([Math.min(d.start.x, d.end.x), Math.min(d.start.y, d.end.y), Math.max(d.start.x, d.end.x), Math.max(d.start.y, d.end.y)], colour);
    } else if (d) {
      line(d.points.map((p) => [p.x, p.y]), page.radius(), d.tool);
    }
  }
}
