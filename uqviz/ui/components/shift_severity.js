// The Dataset shift page's severity strip: Streamlit Custom Component v2
// (st.components.v2.component).
//
// Python sends, once per (source, corruption, score, methods), what the strip shows at every
// severity 0–5 (uqviz.ui.shift_strip.strip_payload): the eight pictures as PNG data URLs, the
// true class of each, every method's predicted class, right/wrong and uncertainty on them
// (Study.shift_cases), and every method's accuracy and mean uncertainty on the whole
// corrupted test set (severity_table). Every key press or drag is answered here, in the same
// frame: the pictures are swapped (one <img> per severity, all decoded up front), the
// captions and the numbers written as Python formats them. Python hears only the committed
// severity (on release, or after a pause in key presses) through setStateValue('commit', n).

const dash = '–';

// -- building the elements once per data ----------------------------------------------------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function buildScale(s) {
  const { scale } = s.els;
  scale.replaceChildren();
  for (let v = s.min; v <= s.max; v++) scale.append(el('span', '', String(v)));
}

function buildStrip(s, d) {
  const { strip } = s.els;
  strip.replaceChildren();
  s.cells = [];
  if (!d.images) return;
  const count = Math.max(0, ...d.levels.map((l) => (l.pictures ? l.pictures.length : 0)),
                         ...d.levels.map((l) => (l.truth ? l.truth.length : 0)));
  for (let k = 0; k < count; k++) {
    const item = el('li', 'ss-case');
    const frame = el('div', 'ss-frame');
    const imgs = d.levels.map((l) => {
      const url = l.pictures ? l.pictures[k] : undefined;
      if (url === undefined) return null;
      const img = el('img');
      img.decoding = 'sync';
      img.alt = `Test image ${k + 1} at severity ${l.severity}`;
      img.src = url;
      img.hidden = true;
      img.decode().catch(() => {});
      frame.append(img);
      return img;
    });
    const missing = el('div', 'ss-missing', 'no image at this severity');
    missing.hidden = true;
    frame.append(missing);
    const caption = el('div', 'ss-case-caption');
    const truth = el('div', 'ss-truth');
    caption.append(truth);
    const lines = d.methods.map(() => {
      const line = el('div', 'ss-pred');
      caption.append(line);
      return line;
    });
    item.append(frame, caption);
    strip.append(item);
    s.cells.push({ imgs, missing, truth, lines, shown: null, text: {} });
  }
}

function buildSummary(s, d) {
  const { tbody } = s.els;
  tbody.replaceChildren();
  s.rows = d.methods.map((m) => {
    const tr = el('tr');
    const name = el('th');
    name.scope = 'row';
    const dot = el('span', 'ss-dot');
    dot.style.background = m.color;
    dot.setAttribute('aria-hidden', 'true');
    name.append(dot, m.label);
    const accuracy = el('td', 'ss-num ss-accuracy');
    const mean = el('td', 'ss-num ss-mean');
    tr.append(name, accuracy, mean);
    tbody.append(tr);
    return { accuracy, mean };
  });
}

function adoptData(s, d) {
  s.id = d.id;
  s.levels = d.levels;
  s.min = d.levels[0].severity;
  s.max = d.levels[d.levels.length - 1].severity;
  s.names = d.names;
  s.methods = d.methods;
  s.images = d.images;
  s.scoreLabel = d.score_label;
  s.corruptionLabel = d.corruption_label;
  s.pageStep = d.page_step;
  s.shown = {};
  const { slider, strip, caption } = s.els;
  slider.min = String(s.min);
  slider.max = String(s.max);
  slider.step = '1';
  strip.hidden = !d.images;
  caption.hidden = !d.images;
  buildScale(s);
  buildStrip(s, d);
  buildSummary(s, d);
}

// -- the numbers -----------------------------------------------------------------------------
function setText(node, cache, name, text) {
  if (cache[name] !== text) {
    cache[name] = text;
    node.textContent = text;
  }
}

// "Softmax 3✓ 0.12", as the page's f-string; the mark in its own span for its colour
function setPrediction(s, cell, i, a, k) {
  const line = cell.lines[i];
  const short = s.methods[i].short;
  const right = a.predicted ? a.correct[k] : null;
  const u = a.predicted ? pyFixed(a.uncertainty[k] === null ? NaN : a.uncertainty[k], 2) : '';
  const value = a.predicted ? `${s.names[a.predicted[k]]}${right ? '✓' : '✗'} ${u}` : dash;
  const text = `${short} ${value}`;
  if (cell.text[i] === text) return;
  cell.text[i] = text;
  // the method's name left, the prediction and its uncertainty right, never split
  const name = el('span', 'ss-pred-name', short);
  const shown = el('span', 'ss-pred-value');
  if (a.predicted) {
    const mark = el('span', right ? 'ss-mark-right' : 'ss-mark-wrong', right ? '✓' : '✗');
    shown.append(s.names[a.predicted[k]], mark, ` ${u}`);
  } else {
    shown.textContent = dash;
  }
  name.title = s.methods[i].label;
  line.replaceChildren(name, ' ', shown);
}

function renderStrip(s, L) {
  const index = L.severity - s.min;
  s.cells.forEach((cell, k) => {
    const img = cell.imgs[index];
    if (cell.shown !== img) {
      if (cell.shown) cell.shown.hidden = true;
      if (img) img.hidden = false;
      cell.missing.hidden = img !== null;
      cell.shown = img;
    }
    setText(cell.truth, cell.text, 'truth', L.truth ? `true ${s.names[L.truth[k]]}` : `true ${dash}`);
    L.methods.forEach((a, i) => setPrediction(s, cell, i, a, k));
  });
  setText(s.els.caption, s.shown, 'caption', `Eight test images at severity ${L.severity}; `
    + "under each, every method's prediction (✓ right, ✗ wrong), then its "
    + `${s.scoreLabel}.`);
}

function summaryCaption(s, L) {
  if (L.n === null) {
    return `These predictions have no rows of ${s.corruptionLabel} at severity ${L.severity}.`;
  }
  const unit = s.images ? 'images' : 'rows';
  const where = L.severity === 0 ? 'clean (severity 0)'
    : `${s.corruptionLabel} at severity ${L.severity}`;
  return `Whole test set, ${where}: ${pyInt(L.n)} ${unit}; uncertainty: ${s.scoreLabel}.`;
}

function render(s) {
  const L = s.levels[s.severity - s.min];
  const v = String(s.severity);
  setText(s.els.output, s.shown, 'output', v);
  const valuetext = s.severity === 0 ? '0 (clean)' : v;
  if (s.shown.valuetext !== valuetext) {
    s.shown.valuetext = valuetext;
    s.els.slider.setAttribute('aria-valuetext', valuetext);
  }
  if (s.images) renderStrip(s, L);
  setText(s.els.summaryCaption, s.shown, 'summary', summaryCaption(s, L));
  L.methods.forEach((a, i) => {
    const row = s.rows[i];
    setText(row.accuracy, s.shown, `acc${i}`,
            a.accuracy === null ? dash : `${pyFixed(100 * a.accuracy, 1)}%`);
    setText(row.mean, s.shown, `mean${i}`,
            a.mean_uncertainty === null ? dash : pyFixed(a.mean_uncertainty, 3));
  });
}

// -- the slider ------------------------------------------------------------------------------
function listen(s) {
  const { slider } = s.els;
  // positions 0 … max − min: arrows one severity, PageUp/PageDown page_step (two), Home/End
  // the ends
  wireSlider(slider, {
    position: () => s.severity - s.min,
    last: () => s.max - s.min,
    get page() { return s.pageStep; }, // Python's PAGE_STEP (shift_strip.py)
    set: (k) => { s.severity = s.min + k; },
    value: (k) => s.min + k,
    fromInput: () => {
      const v = Math.round(Number(slider.value));
      return Number.isFinite(v) ? Math.min(Math.max(v, s.min), s.max) - s.min : null;
    },
    render: () => render(s),
  }, s.commit);
}

function init(parentElement) {
  const q = (sel) => parentElement.querySelector(sel);
  const els = {
    root: q('.ss'), slider: q('.ss-slider'), output: q('.ss-output'), scale: q('.ss-scale'),
    strip: q('.ss-strip'), caption: q('.ss-caption'), summaryCaption: q('.ss-summary-caption'),
    tbody: q('.ss-summary tbody'),
  };
  const s = { els, id: null, severity: null, shown: {}, cells: [], rows: [],
              setStateValue: () => {} };
  s.commit = new DebouncedCommit(() => s.severity, (n) => s.setStateValue('commit', n));
  listen(s);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !Array.isArray(data.levels) || data.levels.length === 0
      || !parentElement.querySelector('.ss')) return undefined;
  const s = mountState(parentElement, init);
  s.setStateValue = setStateValue;
  if (s.id !== data.id) {
    // new data (or a fresh mount): take the severity Python holds, unless a key press here
    // is newer and not yet committed (then commit it now and keep it)
    const pending = s.commit.pending;
    adoptData(s, data);
    if (pending) {
      s.commit.now();
    } else {
      s.severity = data.severity;
      s.commit.heard(data.severity);
    }
    s.severity = Math.min(Math.max(s.severity, s.min), s.max); // the new range
    s.els.slider.value = String(s.severity);
  } else if (s.commit.pending) {
    s.commit.schedule(KEY_COMMIT_MS); // a cleanup may have cleared the pending commit's timer
  }
  render(s);
  s.els.root.dataset.ready = 'true';
  return () => s.commit.pause();
}
