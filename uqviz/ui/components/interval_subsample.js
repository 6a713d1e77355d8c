// The confidence intervals' subsample slider: Streamlit Custom Component v2
// (st.components.v2.component).
//
// Python sends, once per (source, methods), the slider's subsample sizes and for each method,
// at each of those sizes along the page's one seeded permutation, every number shown
// (uqviz.ui.components.interval_subsample.prepare: accuracy_intervals with the exact
// bootstrap; base64, little-endian): the accuracy, the Wald interval (clipped and unclipped),
// the Wilson interval, the exact percentile bootstrap, their widths and where Wald fails. This
// code computes no statistic: every key press or drag is answered here, in the same frame, by
// looking up the row of the slider's size (intervalsAt) and writing the warnings, the chart
// and the table, the numbers formatted as Python formats them. Python hears only the
// committed size (on release, or after a pause in key presses) through
// setStateValue('commit', size).

const KINDS = ['wald', 'wilson', 'bootstrap'];
const SYMBOLS = {
  wald: 'M0,-7L7,0L0,7L-7,0Z',
  wilson: 'M-5.5,0A5.5,5.5 0 1,0 5.5,0A5.5,5.5 0 1,0 -5.5,0Z',
  bootstrap: 'M-5,-5H5V5H-5Z',
};
const PLOT = { left: 250, right: 740, top: 26, row: 28, gap: 10, bottom: 58 };

const pct = (x, d) => `${pyFixed(100 * x, d)}%`;

// -- the data -------------------------------------------------------------------------------------
export function buildModel(d) {
  const sizes = decode(d.sizes, Int32Array);
  const methods = d.methods.map((m) => {
    const f8 = (name) => decode(m[name], Float64Array);
    return {
      id: m.id, label: m.label, color: m.color, hits: decode(m.hits, Int32Array),
      accuracy: f8('accuracy'), wald: f8('wald'), waldUnclipped: f8('waldUnclipped'),
      wilson: f8('wilson'), bootstrap: f8('bootstrap'), waldWidth: f8('waldWidth'),
      waldUnclippedWidth: f8('waldUnclippedWidth'), wilsonWidth: f8('wilsonWidth'),
      bootstrapWidth: f8('bootstrapWidth'), zeroWidth: decode(m.zeroWidth, Int8Array),
      outside: decode(m.outside, Int8Array),
    };
  });
  return { sizes, methods, K: sizes.length, kinds: d.kinds, source: d.source };
}

// Method m's numbers at size position i: row i of its table (accuracy_intervals at sizes[i])
export function intervalsAt(M, m, i) {
  const t = M.methods[m];
  const pair = (a) => [a[2 * i], a[2 * i + 1]];
  return {
    n: M.sizes[i], k: t.hits[i], accuracy: t.accuracy[i],
    wald: pair(t.wald), waldUnclipped: pair(t.waldUnclipped), wilson: pair(t.wilson),
    bootstrap: pair(t.bootstrap),
    width: { wald: t.waldWidth[i], wilson: t.wilsonWidth[i], bootstrap: t.bootstrapWidth[i] },
    waldUnclippedWidth: t.waldUnclippedWidth[i],
    zeroWidth: t.zeroWidth[i] === 1, outside: t.outside[i] === 1,
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
function cell([lo, hi], width) {
  return `[${pct(lo, 1)}, ${pct(hi, 1)}] · ${pyFixed(100 * width, 1)} pts`;
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

// the chart draws Wald unclipped, so that leaving [0, 1] shows; the table clips it
function bounds(iv, kind) {
  return kind === 'wald' ? iv.waldUnclipped : iv[kind];
}

function chartWidth(iv, kind) {
  return kind === 'wald' ? iv.waldUnclippedWidth : iv.width[kind];
}

// Everything written at size position i, formatted as the page's Python formatted it: the
// slider's output and value text, the caption, the axis title, the table's rows, the warnings
// ([method, text]) and the chart rows' hover titles (method by method, KINDS in order)
export function texts(M, i) {
  const size = M.sizes[i];
  const ivs = M.methods.map((_, m) => intervalsAt(M, m, i));
  return {
    output: `${pyInt(size)} rows`,
    valuetext: `${pyInt(size)} test rows`,
    caption: `${M.source}: each method's accuracy on ${pyInt(size)} test rows (marker) with `
      + 'its three 95% intervals (bars); the dotted line is 100%. Bootstrap: exact, as with '
      + 'infinitely many resamples (the 2.5% and 97.5% quantiles of Binomial(n, p̂)/n).',
    axis: `Accuracy on ${pyInt(size)} test rows, with 95% intervals`,
    table: ivs.map((iv, m) => [M.methods[m].label, pyInt(size), pct(iv.accuracy, 1),
      ...KINDS.map((kind) => cell(iv[kind], iv.width[kind]))]),
    notes: ivs.map((iv, m) => note(M.methods[m].label, iv, size)).filter((n) => n),
    titles: ivs.flatMap((iv, m) => KINDS.map((kind) => {
      const [a, b] = bounds(iv, kind);
      return `${M.methods[m].label}, ${M.kinds[kind]}: accuracy ${pct(iv.accuracy, 1)} `
        + `[${pct(a, 1)}, ${pct(b, 1)}], width ${pct(chartWidth(iv, kind), 1)}`;
    })),
  };
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

function drawAxis(s, lo, hi, title) {
  const span = Math.max(hi - lo, 0.005);
  const step = niceStep(span * 1.04);
  const first = Math.floor((lo - 0.02 * span) / step + 1e-9);
  const last = Math.ceil((hi + 0.02 * span) / step - 1e-9);
  const key = `${first}|${last}|${step}|${title}`;
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
                        title));
  const x1 = s.x(1.0);
  for (const [k, v] of Object.entries({ x1, x2: x1, y1: PLOT.top - 6, y2: bottom })) {
    els.hundred.setAttribute(k, v);
  }
  els.hundredLabel.setAttribute('x', x1);
  els.hundredLabel.setAttribute('y', PLOT.top - 10);
}

function drawRows(s, ivs, shown) {
  let lo = Infinity;
  let hi = 1.0;
  for (const iv of ivs) {
    for (const kind of KINDS) {
      const [a, b] = bounds(iv, kind);
      lo = Math.min(lo, a, iv.accuracy);
      hi = Math.max(hi, b);
    }
  }
  drawAxis(s, lo, hi, shown.axis);
  const { x } = s;
  s.chartRows.forEach((r, j) => {
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
    setText(r.title, shown.titles[j]);
  });
}

function render(s) {
  const M = s.model;
  const i = s.pos;
  const ivs = M.methods.map((_, m) => intervalsAt(M, m, i));
  const shown = texts(M, i);
  const { els } = s;
  setText(els.output, shown.output);
  if (els.slider.getAttribute('aria-valuetext') !== shown.valuetext) {
    els.slider.setAttribute('aria-valuetext', shown.valuetext);
  }
  drawRows(s, ivs, shown);
  setText(els.caption, shown.caption);
  shown.table.forEach((row, m) => {
    const c = s.cells[m];
    ['n', 'accuracy', ...KINDS].forEach((col, j) => setText(c[col], row[j + 1]));
  });
  const key = JSON.stringify(shown.notes);
  if (key !== s.notesKey) {
    s.notesKey = key;
    els.notes.replaceChildren(...shown.notes.map(([label, text]) => {
      const li = document.createElement('li');
      const strong = document.createElement('strong');
      strong.textContent = label;
      li.append(strong, text);
      return li;
    }));
    els.warning.hidden = shown.notes.length === 0;
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
