// The confidence intervals' subsample slider: Streamlit Custom Component v2
// (st.components.v2.component).
//
// Python sends, once per (source, methods), the slider's subsample sizes and for each method
// its cumulative correct counts at those sizes along the page's one seeded permutation
// (uqviz.metrics.classification.nested_subsample_hits; base64 int32, little-endian). Every key
// press or drag is answered here, in the same frame: the accuracy, the Wald interval
// (unclipped and clipped) as normal_ci, the Wilson interval as wilson_ci, the exact percentile
// bootstrap as exact_bootstrap_ci (the same operations in the same order:
// _binomial_quantile_counts), the warnings where Wald fails, the chart and the table, the
// numbers formatted as Python formats them. Python hears only the committed size (on release,
// or after a pause in key presses) through setStateValue('commit', size).

// uqviz.metrics.classification.BOOTSTRAP_TAIL
const BOOTSTRAP_TAIL = 2 ** -60;
const KINDS = ['wald', 'wilson', 'bootstrap'];
const SYMBOLS = {
  wald: 'M0,-7L7,0L0,7L-7,0Z',
  wilson: 'M-5.5,0A5.5,5.5 0 1,0 5.5,0A5.5,5.5 0 1,0 -5.5,0Z',
  bootstrap: 'M-5,-5H5V5H-5Z',
};
const PLOT = { left: 250, right: 740, top: 26, row: 28, gap: 10, bottom: 58 };

const pct = (x, d) => `${pyFixed(100 * x, d)}%`;

// -- the arithmetic of uqviz.metrics.classification ----------------------------------------------
// _binomial_quantile_counts: for each level q (increasing), the smallest j with F(j) >= q, F the
// CDF of Binomial(n, k/n), from weights relative to the mode k (exact integer ratios).
export function binomialQuantiles(k, n, levels) {
  const below = [];
  let w = 1.0;
  let j = k;
  while (j > 0) {
    w = w * ((j * (n - k)) / ((n - j + 1) * k));
    if (w < BOOTSTRAP_TAIL) break;
    below.push(w);
    j -= 1;
  }
  const above = [];
  w = 1.0;
  j = k;
  while (j < n) {
    w = w * (((n - j) * k) / ((j + 1) * (n - k)));
    if (w < BOOTSTRAP_TAIL) break;
    above.push(w);
    j += 1;
  }
  const first = k - below.length;
  const weights = [...below.reverse(), 1.0, ...above];
  let total = 0.0;
  for (const x of weights) total += x;
  const found = [];
  let cumulative = 0.0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i];
    while (found.length < levels.length && cumulative / total >= levels[found.length]) {
      found.push(first + i);
    }
  }
  return found;
}

// accuracy_intervals at one size: k correct of n, z the normal quantile.
export function intervalsAt(k, n, z, levels) {
  const p = k / n;
  const half = z * Math.sqrt(p * (1.0 - p) / n);
  const clip = (v) => Math.min(Math.max(v, 0.0), 1.0);
  const waldUnclipped = [p - half, p + half];
  const wald = [clip(p - half), clip(p + half)];
  const [low, high] = binomialQuantiles(k, n, levels);
  return {
    k, n, accuracy: p, wald, waldUnclipped,
    wilson: wilson(k, n, z),
    bootstrap: [low / n, high / n],
    zeroWidth: wald[1] - wald[0] <= 0,
    outside: waldUnclipped[0] < 0 || waldUnclipped[1] > 1,
  };
}

function buildModel(d) {
  const sizes = decode(d.sizes, Int32Array);
  const methods = d.methods.map((m) => ({ ...m, hits: decode(m.hits, Int32Array) }));
  return {
    sizes, methods, K: sizes.length, z: d.z, kinds: d.kinds, source: d.source,
    levels: [(1.0 - d.confidence) / 2.0, (1.0 + d.confidence) / 2.0],
  };
}

function positionOf(M, size) {
  return Math.min(Math.max(lowerBound(M.sizes, size), 0), M.K - 1);
}

// -- the numbers ----------------------------------------------------------------------------------
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// The table's cell, as the page formatted it: f"[{lo:.1%}, {hi:.1%}] · {100 * (hi - lo):.1f} pts"
function cell(lo, hi) {
  return `[${pct(lo, 1)}, ${pct(hi, 1)}] · ${pyFixed(100 * (hi - lo), 1)} pts`;
}

// The warning's line for one method, or null (as the page wrote it, without the markdown).
function note(label, iv, size) {
  const [wlo, whi] = iv.waldUnclipped;
  const [slo, shi] = iv.wilson;
  if (iv.zeroWidth) {
    const which = iv.bootstrap[0] === iv.bootstrap[1]
      ? "Wald's and the bootstrap's intervals are" : "Wald's interval is";
    return [label, ` scored ${pct(iv.accuracy, 0)} on all ${size} rows: ${which} `
      + `[${pct(wlo, 0)}, ${pct(whi, 0)}], zero width, claiming certainty from ${size} rows. `
      + `Wilson: [${pct(slo, 1)}, ${pct(shi, 1)}].`];
  }
  if (iv.outside) {
    return [label, `: Wald's interval [${pct(wlo, 1)}, ${pct(whi, 1)}] leaves [0, 100%] `
      + `(clipped in the table); Wilson stays inside: [${pct(slo, 1)}, ${pct(shi, 1)}].`];
  }
  return null;
}

function bounds(iv, kind) {
  // the chart draws Wald unclipped, so that leaving [0, 1] shows; the table clips it
  return kind === 'wald' ? iv.waldUnclipped : iv[kind];
}

// -- drawing ---------------------------------------------------------------------------------------
function rowY(m, j) {
  return PLOT.top + (3 * m + j) * PLOT.row + m * PLOT.gap + PLOT.row / 2;
}

function layout(s) {
  const M = s.model;
  const els = s.els;
  const rows = [];
  els.rows.replaceChildren();
  const bottom = rowY(M.methods.length - 1, 2) + PLOT.row / 2;
  s.plotBottom = bottom;
  const height = bottom + PLOT.bottom;
  els.chart.setAttribute('viewBox', `0 0 760 ${height}`);
  M.methods.forEach((method, m) => {
    KINDS.forEach((kind, j) => {
      const y = rowY(m, j);
      const g = svgEl('g', { class: 'cis-row', 'data-method': method.id, 'data-kind': kind });
      const title = svgEl('title', {});
      g.append(title);
      g.append(svgEl('text', { x: PLOT.left - 10, y: y + 4, 'text-anchor': 'end',
                               class: 'cis-row-label' },
                     `${method.label} · ${M.kinds[kind]}`));
      const bar = svgEl('line', { class: 'cis-bar', y1: y, y2: y, stroke: method.color });
      const capLo = svgEl('line', { class: 'cis-cap', y1: y - 5, y2: y + 5, stroke: method.color });
      const capHi = svgEl('line', { class: 'cis-cap', y1: y - 5, y2: y + 5, stroke: method.color });
      const marker = svgEl('path', { class: 'cis-marker', d: SYMBOLS[kind], fill: method.color });
      g.append(bar, capLo, capHi, marker);
      els.rows.append(g);
      rows.push({ m, kind, y, title, bar, capLo, capHi, marker });
    });
  });
  s.chartRows = rows;
  s.axisKey = null;

  // the table: one row per method, its cells kept for render
  els.tableBody.replaceChildren();
  s.cells = M.methods.map((method) => {
    const tr = document.createElement('tr');
    tr.dataset.method = method.id;
    const name = document.createElement('td');
    const swatch = document.createElement('span');
    swatch.className = 'cis-swatch';
    swatch.style.background = method.color;
    swatch.setAttribute('aria-hidden', 'true');
    const label = document.createElement('span');
    label.className = 'cis-method';
    label.textContent = method.label;
    name.append(swatch, label);
    tr.append(name);
    const cells = {};
    for (const col of ['n', 'accuracy', ...KINDS]) {
      const td = document.createElement('td');
      td.dataset.col = col;
      if (col === 'n' || col === 'accuracy') td.className = 'cis-num';
      tr.append(td);
      cells[col] = td;
    }
    els.tableBody.append(tr);
    return cells;
  });
  for (const th of els.kindHeaders) th.textContent = M.kinds[th.dataset.kind];
}

function drawAxis(s, lo, hi, size) {
  const span = Math.max(hi - lo, 0.005);
  const step = niceStep(span * 1.04);
  const first = Math.floor((lo - 0.02 * span) / step + 1e-9);
  const last = Math.ceil((hi + 0.02 * span) / step - 1e-9);
  const key = `${first}|${last}|${step}|${size}`;
  if (key === s.axisKey) return;
  s.axisKey = key;
  const xLo = first * step;
  const xHi = last * step;
  s.x = (v) => PLOT.left + ((v - xLo) / (xHi - xLo)) * (PLOT.right - PLOT.left);
  const { els } = s;
  const bottom = s.plotBottom;
  els.grid.replaceChildren();
  els.axes.replaceChildren();
  const decimals = Math.abs(Math.round(step * 100) - step * 100) < 1e-9 ? 0 : 1;
  for (let i = first; i <= last; i++) {
    const t = i * step;
    const x = s.x(t);
    els.grid.append(svgEl('line', { x1: x, x2: x, y1: PLOT.top - 6, y2: bottom }));
    els.axes.append(svgEl('text', { x, y: bottom + 18, 'text-anchor': 'middle' },
                          `${pyFixed(100 * t, decimals)}%`));
  }
  els.axes.append(svgEl('line', { x1: PLOT.left, x2: PLOT.right, y1: bottom, y2: bottom }));
  els.axes.append(svgEl('text', { x: (PLOT.left + PLOT.right) / 2, y: bottom + 44,
                                  'text-anchor': 'middle', class: 'cis-axis-title' },
                        `Accuracy on ${pyInt(size)} test rows, with 95% intervals`));
  const x1 = s.x(1.0);
  for (const [k, v] of Object.entries({ x1, x2: x1, y1: PLOT.top - 6, y2: bottom })) {
    els.hundred.setAttribute(k, v);
  }
  els.hundredLabel.setAttribute('x', x1);
  els.hundredLabel.setAttribute('y', PLOT.top - 10);
}

function drawRows(s, ivs) {
  const M = s.model;
  let lo = Infinity;
  let hi = 1.0;
  for (const iv of ivs) {
    for (const kind of KINDS) {
      const [a, b] = bounds(iv, kind);
      lo = Math.min(lo, a, iv.accuracy);
      hi = Math.max(hi, b);
    }
  }
  drawAxis(s, lo, hi, ivs[0].n);
  const { x } = s;
  for (const r of s.chartRows) {
    const iv = ivs[r.m];
    const [a, b] = bounds(iv, r.kind);
    const xa = x(a).toFixed(1);
    const xb = x(b).toFixed(1);
    r.bar.setAttribute('x1', xa);
    r.bar.setAttribute('x2', xb);
    r.capLo.setAttribute('x1', xa);
    r.capLo.setAttribute('x2', xa);
    r.capHi.setAttribute('x1', xb);
    r.capHi.setAttribute('x2', xb);
    r.marker.setAttribute('transform', `translate(${x(iv.accuracy).toFixed(1)},${r.y})`);
    const method = M.methods[r.m];
    setText(r.title, `${method.label}, ${M.kinds[r.kind]}: accuracy ${pct(iv.accuracy, 1)} `
      + `[${pct(a, 1)}, ${pct(b, 1)}], width ${pct(b - a, 1)}`);
  }
}

function render(s) {
  const M = s.model;
  const i = s.pos;
  const size = M.sizes[i];
  const ivs = M.methods.map((m) => intervalsAt(m.hits[i], size, M.z, M.levels));
  const { els } = s;
  const shown = `${pyInt(size)} rows`;
  setText(els.output, shown);
  if (els.slider.getAttribute('aria-valuetext') !== `${pyInt(size)} test rows`) {
    els.slider.setAttribute('aria-valuetext', `${pyInt(size)} test rows`);
  }
  drawRows(s, ivs);
  setText(els.caption, `${M.source}: each method's accuracy on ${pyInt(size)} test rows `
    + '(marker) with its three 95% intervals (bars); the dotted line is 100%. Bootstrap: '
    + 'exact, as with infinitely many resamples (the 2.5% and 97.5% quantiles of '
    + 'Binomial(n, p̂)/n).');
  ivs.forEach((iv, m) => {
    const c = s.cells[m];
    setText(c.n, pyInt(size));
    setText(c.accuracy, pct(iv.accuracy, 1));
    setText(c.wald, cell(...iv.wald));
    setText(c.wilson, cell(...iv.wilson));
    setText(c.bootstrap, cell(...iv.bootstrap));
  });
  const notes = ivs.map((iv, m) => note(M.methods[m].label, iv, size)).filter((n) => n);
  const key = JSON.stringify(notes);
  if (key !== s.notesKey) {
    s.notesKey = key;
    els.notes.replaceChildren(...notes.map(([label, text]) => {
      const li = document.createElement('li');
      const strong = document.createElement('strong');
      strong.textContent = label;
      li.append(strong, text);
      return li;
    }));
    els.warning.hidden = notes.length === 0;
  }
}

// -- controls ---------------------------------------------------------------------------------------
function configure(s) {
  const M = s.model;
  const { slider, sliderRow, scaleMin, scaleMax, resolution } = s.els;
  sliderRow.hidden = M.K < 2;
  slider.min = '0';
  slider.max = String(M.K - 1);
  slider.step = '1';
  slider.value = String(s.pos);
  scaleMin.textContent = pyInt(M.sizes[0]);
  scaleMax.textContent = pyInt(M.sizes[M.K - 1]);
  resolution.textContent = s.resolution;
}

function listen(s) {
  const { slider } = s.els;
  wireSlider(slider, {
    position: () => s.pos,
    last: () => s.model.K - 1,
    set: (k) => { s.pos = k; },
    value: (k) => k,
    fromInput: () => Math.round(Number(slider.value)),
    render: () => render(s),
  }, s.commit);
}

function init(parentElement) {
  const q = (sel) => parentElement.querySelector(sel);
  const els = {
    root: q('.cis'), sliderRow: q('.cis-slider-row'), slider: q('.cis-slider'),
    output: q('.cis-output'), scaleMin: q('.cis-scale-min'), scaleMax: q('.cis-scale-max'),
    resolution: q('.cis-resolution'), chart: q('.cis-chart'), grid: q('.cis-grid'),
    axes: q('.cis-axes'), rows: q('.cis-rows'), hundred: q('.cis-hundred'),
    hundredLabel: q('.cis-hundred-label'), caption: q('.cis-caption'),
    warning: q('.cis-warning'), notes: q('.cis-notes'), tableBody: q('.cis-table-body'),
    kindHeaders: [...parentElement.querySelectorAll('th[data-kind]')],
  };
  const s = { els, id: null, model: null, pos: 0, notesKey: null, axisKey: null,
              setStateValue: () => {} };
  s.commit = new DebouncedCommit(() => s.model.sizes[s.pos],
                                 (size) => s.setStateValue('commit', size));
  listen(s);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !parentElement.querySelector('.cis')) return undefined;
  const s = mountState(parentElement, init);
  s.setStateValue = setStateValue;
  if (s.id !== data.id) {
    // new data (or a fresh mount): take the size Python holds; afterwards the position here
    // is newer than any size Python sends back for the same data
    s.commit.cancel();
    s.id = data.id;
    s.model = buildModel(data);
    s.resolution = data.resolution;
    s.pos = positionOf(s.model, data.size);
    s.commit.heard(s.model.sizes[s.pos]);
    s.notesKey = null;
    layout(s);
    configure(s);
  } else if (s.commit.pending && s.commit.timer === null) {
    s.commit.schedule(KEY_COMMIT_MS); // a rerun cleared the timer of a size not yet committed
  }
  render(s);
  s.els.root.dataset.ready = 'true';
  return () => s.commit.pause();
}
