// Editing a label map (Uint8Array, row by row, one object id per pixel) in image coordinates.
// A pixel belongs to a shape when its centre (x + 0.5, y + 0.5) lies inside the shape.

// A filled disc of radius r at (cx, cy).
export function disc(labels, width, height, cx, cy, r, id) {
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(width - 1, Math.ceil(cx + r));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(height - 1, Math.ceil(cy + r));
  const r2 = r * r;
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - cx;
      if (dx * dx + dy * dy <= r2) labels[y * width + x] = id;
    }
  }
}

// A brush stroke segment: discs along the line, spaced well under the radius.
export function stroke(labels, width, height, a, b, r, id) {
  const length = Math.hypot(b.x - a.x, b.y - a.y);
  const steps = Math.max(1, Math.ceil(length / Math.max(0.5, r / 3)));
  for (let i = 0; i <= steps; i++) {
    const t = i / steps;
    disc(labels, width, height, a.x + (b.x - a.x) * t, a.y + (b.y - a.y) * t, r, id);
  }
}

// A filled polygon (even-odd rule), scanned at pixel centres.
export function polygon(labels, width, height, points, id) {
  if (points.length < 3) return;
  const ys = points.map((p) => p.y);
  const y0 = Math.max(0, Math.floor(Math.min(...ys))), y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  for (let y = y0; y <= y1; y++) {
    const yc = y + 0.5;
    const xs = [];
    for (let i = 0; i < points.length; i++) {
      const p = points[i], q = points[(i + 1) % points.length];
      if ((p.y <= yc) !== (q.y <= yc)) xs.push(p.x + ((yc - p.y) * (q.x - p.x)) / (q.y - p.y));
    }
    xs.sort((u, v) => u - v);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const from = Math.max(0, Math.ceil(xs[k] - 0.5));
      const to = Math.min(width - 1, Math.ceil(xs[k + 1] - 0.5) - 1);
      for (let x = from; x <= to; x++) labels[y * width + x] = id;
    }
  }
}

// Fill the 4-connected region of equal ids around (x, y) with `id` (a hole, a gap, a region).
export function fill(labels, width, height, x, y, id) {
  const start = y * width + x;
  const old = labels[start];
  if (old === id) return 0;
  const stack = new Int32Array(width * height);
  let top = 0, count = 0;
  stack[top++] = start;
  labels[start] = id;
  while (top > 0) {
    const p = stack[--top];
    count++;
    const px = p % width;
    const around = [px > 0 ? p - 1 : -1, px < width - 1 ? p + 1 : -1, p - width, p + width];
    for (const q of around) {
      if (q >= 0 && q < labels.length && labels[q] === old) {
        labels[q] = id;
        stack[top++] = q;
      }
    }
  }
  return count;
}

// Undo/redo of whole label maps for one frame (a map is small next to the frame's image).
export class History {
  constructor(limit = 50) { this.limit = limit; this.undos = []; this.redos = []; }
  reset() { this.undos = []; this.redos = []; }
  push(labels) {
    this.undos.push(labels.slice());
    if (this.undos.length > this.limit) this.undos.shift();
    this.redos = [];
  }
  undo(current) {
    if (!this.undos.length) return null;
    this.redos.push(current.slice());
    return this.undos.pop();
  }
  redo(current) {
    if (!this.redos.length) return null;
    this.undos.push(current.slice());
    return this.redos.pop();
  }
}
