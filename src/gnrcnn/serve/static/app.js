// gnrcnn serve: send an image to POST /predict, draw its masks (COCO RLE decoded here), boxes and
// labels on a canvas; the score slider and the toggles redraw from the reply without a new request.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { classes: [], image: null, reply: null, dets: [], hover: -1, url: null, jsonUrl: null };

// The colours of gnrcnn predict's pictures (predict/draw.py palette): hues a golden angle apart.
function classColor(i) {
  const h = (i * 0.618034) % 1, s = 0.75, v = 0.95;
  const k = Math.floor(h * 6), f = h * 6 - k, p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  const [r, g, b] = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][k % 6];
  return [Math.round(255 * r), Math.round(255 * g), Math.round(255 * b)];
}
const css = ([r, g, b], a = 1) => `rgba(${r}, ${g}, ${b}, ${a})`;

// pycocotools' compressed RLE string (rleFrString): 5 bits per character, deltas after the second run.
function rleCounts(s) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0, k = 0, more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = c & 0x20;
      p++; k++;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

// One mask -> a canvas the size of its extent: translucent fill, opaque outline. Runs are column-major.
function maskLayer(rle, rgb) {
  const [H] = rle.size, counts = rleCounts(rle.counts);
  const runs = [];
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let i = 0, pos = 0; i < counts.length; pos += counts[i], i++) {
    if (i % 2 === 0 || counts[i] === 0) continue;
    const a = pos, b = pos + counts[i] - 1, ca = Math.floor(a / H), cb = Math.floor(b / H);
    runs.push([a, b]);
    x0 = Math.min(x0, ca); x1 = Math.max(x1, cb);
    if (ca === cb) { y0 = Math.min(y0, a % H); y1 = Math.max(y1, b % H); } else { y0 = 0; y1 = H - 1; }
  }
  if (x1 < 0) return null;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, bits = new Uint8Array(w * h);
  for (const [a, b] of runs) {
    for (let i = a; i <= b; i++) bits[(i % H - y0) * w + (Math.floor(i / H) - x0)] = 1;
  }
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h), px = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      if (!bits[i]) continue;
      const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !bits[i - 1] || !bits[i + 1] || !bits[i - w] || !bits[i + w];
      px.set([rgb[0], rgb[1], rgb[2], edge ? 255 : 110], 4 * i);
    }
  }
  ctx.putImageData(img, 0, 0);
  return { canvas, x0, y0, w, h, bits };
}

const threshold = () => Number($("thr").value);
const visible = () => state.dets.filter((d) => d.score >= threshold());

// The canvas is drawn in screen pixels (crisp lines and text at any image size): the image and the
// masks scaled by s, the boxes and labels at their scaled positions.
function draw() {
  const canvas = $("canvas"), view = $("view");
  const { width: W, height: H } = state.reply.image;
  const pad = 24, s = Math.min((view.clientWidth - pad) / W, (view.clientHeight - pad) / H, 8);
  const cw = Math.max(1, Math.floor(W * s)), ch = Math.max(1, Math.floor(H * s)), dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(cw * dpr) || canvas.height !== Math.round(ch * dpr)) {
    canvas.width = Math.round(cw * dpr); canvas.height = Math.round(ch * dpr);
    canvas.style.width = `${cw}px`; canvas.style.height = `${ch}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr * cw / W, 0, 0, dpr * ch / H, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  if (state.image) ctx.drawImage(state.image, 0, 0, W, H);
  else { ctx.fillStyle = "#2a2f38"; ctx.fillRect(0, 0, W, H); }
  const shown = visible().slice().reverse(); // best drawn last, on top
  const focus = state.hover;
  if ($("show-masks").checked) {
    for (const d of shown) {
      if (!d.layer) continue;
      ctx.globalAlpha = focus < 0 || focus === d.index ? 1 : 0.2;
      ctx.drawImage(d.layer.canvas, d.layer.x0, d.layer.y0);
    }
    ctx.globalAlpha = 1;
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const k = cw / W;
  for (const d of shown) {
    const dim = focus >= 0 && focus !== d.index;
    const [x, y, w, h] = d.bbox.map((v) => v * k);
    if ($("show-boxes").checked) {
      ctx.lineWidth = focus === d.index ? 3 : 2;
      ctx.strokeStyle = css(d.rgb, dim ? 0.3 : 1);
      ctx.strokeRect(x, y, w, h);
    }
  }
  if ($("show-labels").checked) {
    const placed = [], labels = [];
    for (const d of shown.slice().reverse()) { // best first: it gets the best place
      if (focus < 0 || focus === d.index) labels.push([d, placeLabel(ctx, d, k, cw, ch, placed)]);
    }
    for (const [d, box] of labels.reverse()) drawLabel(ctx, d, box);
  }
}

const LABEL_FONT = '600 12px system-ui, -apple-system, "Segoe UI", sans-serif';

// Above the box, else inside its top, else below it: the first place no better label has taken.
function placeLabel(ctx, d, k, width, height, placed) {
  ctx.font = LABEL_FONT;
  const text = `${d.category} ${d.score.toFixed(2)}`, w = ctx.measureText(text).width + 10, h = 18;
  const [x, y, bw, bh] = d.bbox.map((v) => v * k);
  const lx = Math.max(0, Math.min(x - 1, width - w));
  const spots = [y - h, y + 1, y + bh + 1].filter((ly) => ly >= 0 && ly + h <= height).map((ly) => [lx, ly, w, h]);
  const free = spots.find(([ax, ay]) => placed.every(([px, py, pw, ph]) => ax + w <= px || px + pw <= ax || ay + h <= py || py + ph <= ay));
  const box = free || spots[0] || [lx, Math.max(0, y), w, h];
  placed.push(box);
  return { text, box };
}

function drawLabel(ctx, d, { text, box: [x, y, w, h] }) {
  ctx.font = LABEL_FONT;
  ctx.fillStyle = css(d.rgb, 0.95);
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, 3);
  ctx.fill();
  const [r, g, b] = d.rgb;
  ctx.fillStyle = 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111" : "#fff";
  ctx.textBaseline = "middle";
  ctx.fillText(text, x + 5, y + h / 2 + 0.5);
}

function renderList() {
  const thr = threshold(), list = $("dets");
  const shown = visible(), hidden = state.dets.length - shown.length;
  $("thr-out").textContent = thr.toFixed(2);
  list.replaceChildren(...shown.map((d) => {
    const li = document.createElement("li");
    li.dataset.index = d.index;
    if (d.index === state.hover) li.classList.add("active");
    const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = css(d.rgb);
    const name = document.createElement("span"); name.className = "name"; name.textContent = d.category;
    const size = document.createElement("span"); size.className = "size";
    size.textContent = `${Math.round(d.bbox[2])}×${Math.round(d.bbox[3])}`;
    const bar = document.createElement("span"); bar.className = "bar";
    const fill = document.createElement("span"); fill.style.width = `${(100 * d.score).toFixed(1)}%`;
    fill.style.background = css(d.rgb); bar.append(fill);
    const score = document.createElement("span"); score.className = "score"; score.textContent = d.score.toFixed(2);
    li.append(sw, name, size, bar, score);
    li.addEventListener("mouseenter", () => setHover(d.index));
    li.addEventListener("mouseleave", () => setHover(-1));
    return li;
  }));
  const n = state.dets.length;
  $("summary").textContent = n === 0 ? "The model found nothing in this image."
    : `${shown.length} of ${n} detection${n === 1 ? "" : "s"} scoring ≥ ${thr.toFixed(2)}`;
  const perClass = new Map();
  for (const d of shown) perClass.set(d.category, { rgb: d.rgb, n: (perClass.get(d.category)?.n || 0) + 1 });
  $("chips").replaceChildren(...[...perClass].sort((a, b) => b[1].n - a[1].n).map(([name, { rgb, n }]) => {
    const chip = document.createElement("span"); chip.className = "chip";
    chip.style.borderColor = css(rgb); chip.style.background = css(rgb, 0.12);
    chip.textContent = `${name} ${n}`;
    return chip;
  }));
  $("more").hidden = hidden === 0;
  $("more").textContent = `${hidden} more below ${thr.toFixed(2)}: lower the minimum score to see them.`;
}

function setHover(index) {
  if (state.hover === index) return;
  state.hover = index;
  for (const li of $("dets").children) li.classList.toggle("active", Number(li.dataset.index) === index);
  draw();
}

// The best-scoring shown detection whose mask (or, without one, box) covers the pointer.
function pick(event) {
  const r = $("canvas").getBoundingClientRect(), { width: W, height: H } = state.reply.image;
  const x = ((event.clientX - r.left) / r.width) * W, y = ((event.clientY - r.top) / r.height) * H;
  for (const d of visible()) {
    const L = d.layer;
    if (L) {
      const lx = Math.floor(x) - L.x0, ly = Math.floor(y) - L.y0;
      if (lx >= 0 && ly >= 0 && lx < L.w && ly < L.h && L.bits[ly * L.w + lx]) return d.index;
    } else if (x >= d.bbox[0] && y >= d.bbox[1] && x <= d.bbox[0] + d.bbox[2] && y <= d.bbox[1] + d.bbox[3]) {
      return d.index;
    }
  }
  return -1;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function loadImage(url) {
  return new Promise((resolve) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => resolve(null); // e.g. TIFF: the browser cannot show it; detections still are
    img.src = url;
  });
}

async function detect(file) {
  if (!file) return;
  showError("");
  $("drop").hidden = true; $("view").hidden = false; $("busy").hidden = false;
  $("busy-text").textContent = `Detecting in ${file.name || "the pasted image"}…`;
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(file);
  const form = new FormData();
  form.append("image", file, file.name || "pasted.png");
  try {
    const [image, response] = await Promise.all([loadImage(state.url), fetch("/predict", { method: "POST", body: form })]);
    const reply = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
    if (!response.ok) throw new Error(reply.error || `HTTP ${response.status}`);
    state.image = image; state.reply = reply; state.hover = -1;
    state.dets = reply.detections.map((d, index) => {
      const rgb = classColor(state.classes.indexOf(d.category) >= 0 ? state.classes.indexOf(d.category) : d.category_id);
      return { ...d, index, rgb, layer: d.segmentation ? maskLayer(d.segmentation, rgb) : null };
    });
    renderFacts(file, reply, image);
    renderList();
    draw();
    document.body.classList.add("has-result");
  } catch (e) {
    showError(String(e.message || e));
    if (!state.reply) { $("view").hidden = true; $("drop").hidden = false; }
  } finally {
    $("busy").hidden = true;
  }
}

function renderFacts(file, reply, image) {
  const t = reply.timings_ms, rows = [
    ["image", `${reply.image.width} × ${reply.image.height}${image ? "" : " (your browser cannot display this format)"}`],
    ["network", `${t.inference} ms${reply.batch_size > 1 ? ` (in a batch of ${reply.batch_size})` : ""}`],
    ["waited", `${t.queue} ms`], ["decode", `${t.decode} ms`], ["server total", `${t.total} ms`],
  ];
  $("timings").replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt"), dd = document.createElement("dd");
    dt.textContent = k; dd.textContent = v; return [dt, dd];
  }));
  if (state.jsonUrl) URL.revokeObjectURL(state.jsonUrl);
  state.jsonUrl = URL.createObjectURL(new Blob([JSON.stringify(reply, null, 1)], { type: "application/json" }));
  $("download").href = state.jsonUrl;
  $("download").download = `${(file.name || "image").replace(/\.[^.]*$/, "")}.detections.json`;
  $("facts").hidden = false;
}

async function loadModel() {
  try {
    const response = await fetch("/model");
    const m = await response.json();
    if (!response.ok) throw new Error(m.error || `HTTP ${response.status}`);
    state.classes = m.class_names;
    const weights = m.weights.file ? m.weights.file.split("/").pop() : "random weights";
    $("model").textContent = `${m.config || "model"} · ${m.class_names.length} classes · ${m.device} ${m.precision} · ${weights}`;
    $("model").title = m.weights.sha256 ? `weights sha256 ${m.weights.sha256}` : "";
    $("drop-note").textContent = `JPEG, PNG, GIF, WebP, BMP or TIFF, up to ${Math.round(m.limits.max_upload_bytes / 2 ** 20)} MB`;
  } catch (e) {
    showError(`Cannot read the model's description: ${e.message || e}`);
  }
}

function wire() {
  $("file").addEventListener("change", (e) => { detect(e.target.files[0]); e.target.value = ""; });
  for (const id of ["thr", "show-masks", "show-boxes", "show-labels"]) {
    $(id).addEventListener("input", () => { if (state.reply) { renderList(); draw(); } });
  }
  const stage = $("stage");
  stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("dragging"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
  stage.addEventListener("drop", (e) => {
    e.preventDefault(); stage.classList.remove("dragging");
    detect(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (e) => {
    const item = [...e.clipboardData.items].find((i) => i.type.startsWith("image/"));
    if (item) detect(item.getAsFile());
  });
  $("canvas").addEventListener("mousemove", (e) => setHover(pick(e)));
  $("canvas").addEventListener("mouseleave", () => setHover(-1));
  $("error").addEventListener("click", () => showError(""));
  $("error").title = "click to dismiss";
  window.addEventListener("resize", () => { if (state.reply) draw(); });
  $("choose-top").hidden = false;
}

wire();
loadModel();
