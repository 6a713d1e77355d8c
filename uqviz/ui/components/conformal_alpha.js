// The Conformal page's α slider: Streamlit Custom Component v2 (st.components.v2.component).
//
// Python sends, once per (source, method, score, calibration share, seed, randomized, λ,
// k_reg), one split's results at every α of the slider (uqviz.conformal.ConformalSplit.levels
// on SLIDER_ALPHAS, rows of the arrays) and the coverage averaged over splits at each
// (Study.average_coverage): q̂, its rank, the coverage, its 95% interval and its distance to
// the target, the mean set size, the set-size counts and shares (sizes 0..C) and each class's
// hits, coverage and 95% Wilson interval (ConformalLevels.slider_table; base64,
// little-endian), and the slider's step. This code computes no statistic: every key press or
// drag is answered here, in the same frame, by looking up the slider's row (levelAt) and
// formatting it as the page's Python formatted it (texts): the four numbers, the caption, the
// warning when q̂ is infinite and the two charts. Python hears only the committed α (on
// release, or after a pause in key presses) through setStateValue('alpha', α).

const percent = (x, d) => `${pyFixed(100 * x, d)}%`;
const signed = (x, d) => {
  const s = pyFixed(x, d);
  return s.startsWith('-') ? s : `+${s}`;
};

// -- the data ------------------------------------------------------------------------------
export function buildModel(d) {
  const K = d.levels;
  const C = d.classes;
  const m = {
    K, C, names: d.names, nCal: d.nCal, nTest: d.nTest, nDraws: d.nDraws, step: d.step,
    alphas: decode(d.alphas, Float64Array),
    qhat: decode(d.qhat, Float64Array),
    rank: decode(d.rank, Int32Array),
    hits: decode(d.hits, Int32Array),
    low: decode(d.low, Float64Array),
    high: decode(d.high, Float64Array),
    meanSize: decode(d.meanSize, Float64Array),
    average: decode(d.average, Float64Array),
    sizeCounts: decode(d.sizeCounts, Int32Array), // K × (C + 1), row by row
    classHits: decode(d.classHits, Int32Array), // K × C, row by row
    classCounts: decode(d.classCounts, Int32Array),
    coverage: decode(d.coverage, Float64Array),
    delta: decode(d.delta, Float64Array),
    sizeShare: decode(d.sizeShare, Float64Array), // K × (C + 1), row by row
    classCoverage: decode(d.classCoverage, Float64Array), // K × C, row by row
    classLow: decode(d.classLow, Float64Array),
    classHigh: decode(d.classHigh, Float64Array),
  };
  m.largestShare = 0; // the set-size chart's height
  for (const share of m.sizeShare) m.largestShare = Math.max(m.largestShare, share);
  return m;
}

// the level of the slider nearest to alpha
export function levelOf(m, alpha) {
  let best = 0;
  for (let k = 1; k < m.K; k++) {
    if (Math.abs(m.alphas[k] - alpha) < Math.abs(m.alphas[best] - alpha)) best = k;
  }
  return best;
}

// what ConformalSplit.sets, class_coverage and the average give at level k: row k of the tables
export function levelAt(m, k) {
  const alpha = m.alphas[k];
  const C = m.C;
  const classes = [];
  for (let c = 0; c < C; c++) {
    const i = k * C + c;
    classes.push({ hits: m.classHits[i], count: m.classCounts[c],
                   coverage: m.classCoverage[i], lo: m.classLow[i], hi: m.classHigh[i] });
  }
  const sizes = [];
  const shares = [];
  for (let j = 0; j <= C; j++) {
    sizes.push(m.sizeCounts[k * (C + 1) + j]);
    shares.push(m.sizeShare[k * (C + 1) + j]);
  }
  return {
    k, alpha,
    qhat: m.qhat[k],
    rank: m.rank[k],
    coverage: m.coverage[k],
    delta: m.delta[k],
    lo: m.low[k],
    hi: m.high[k],
    meanSize: m.meanSize[k],
    average: m.average[k],
    sizes,
    shares,
    classes,
  };
}

// -- the charts ----------------------------------------------------------------------------
const PLOT = { left: 56, right: 452, top: 36, bottom: 226 };
const VIEW_WIDTH = 460;
const WIDTH = PLOT.right - PLOT.left;
const HEIGHT = PLOT.bottom - PLOT.top;
const MAX_LABELS = 20;

function percentTick(t, step) {
  return `${pyFixed(100 * t, Number.isInteger(Math.round(1e6 * step) / 1e4) ? 0 : 1)}%`;
}

// grid, y ticks (0 … top by step), category labels and both axis titles
function drawFrame(svg, labels, top, step, xTitle, yTitle) {
  const grid = svg.querySelector('.ca-grid');
  const axes = svg.querySelector('.ca-axes');
  grid.replaceChildren();
  axes.replaceChildren();
  const y = (v) => PLOT.bottom - (v / top) * HEIGHT;
  for (let i = 0; i * step <= top + 1e-9; i++) {
    const t = i * step;
    grid.append(svgEl('line', { x1: PLOT.left, x2: PLOT.right, y1: y(t), y2: y(t) }));
    axes.append(svgEl('text', { x: PLOT.left - 8, y: y(t) + 4, 'text-anchor': 'end' },
                      percentTick(t, step)));
  }
  const slot = WIDTH / labels.length;
  const every = Math.ceil(labels.length / MAX_LABELS);
  const longest = Math.max(...labels.map((l) => l.length));
  const rotate = longest * 6.5 > slot * every - 4;
  labels.forEach((label, i) => {
    if (i % every !== 0) return;
    const x = PLOT.left + (i + 0.5) * slot;
    const text = rotate && label.length > 12 ? `${label.slice(0, 11)}…` : label;
    const attrs = rotate
      ? { x, y: PLOT.bottom + 14, 'text-anchor': 'end',
          transform: `rotate(-35 ${x} ${PLOT.bottom + 14})` }
      : { x, y: PLOT.bottom + 18, 'text-anchor': 'middle' };
    axes.append(svgEl('text', attrs, text));
  });
  axes.append(svgEl('line', { x1: PLOT.left, x2: PLOT.right, y1: PLOT.bottom, y2: PLOT.bottom }));
  axes.append(svgEl('line', { x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: PLOT.bottom }));
  // below the tick labels: rotated ones reach down by their length · sin 35°
  const labelDepth = rotate ? Math.min(longest, 12) * 6.5 * 0.574 + 8 : 18;
  const titleY = Math.round(PLOT.bottom + 14 + labelDepth + 8);
  axes.append(svgEl('text', { x: (PLOT.left + PLOT.right) / 2, y: titleY, 'text-anchor': 'middle',
                              class: 'ca-axis-title' }, xTitle));
  svg.setAttribute('viewBox', `0 0 ${VIEW_WIDTH} ${titleY + 8}`);
  const mid = (PLOT.top + PLOT.bottom) / 2;
  axes.append(svgEl('text', { x: 14, y: mid, 'text-anchor': 'middle', class: 'ca-axis-title',
                              transform: `rotate(-90 14 ${mid})` }, yTitle));
  return { y, slot };
}

// one bar per category, each with a hover title; returned for render to move
function makeBars(svg, count, slot) {
  const group = svg.querySelector('.ca-bars');
  group.replaceChildren();
  const bars = [];
  for (let i = 0; i < count; i++) {
    const rect = svgEl('rect', { x: PLOT.left + i * slot + 0.1 * slot, width: 0.8 * slot,
                                 y: PLOT.bottom, height: 0 });
    const title = svgEl('title', {});
    rect.append(title);
    group.append(rect);
    bars.push({ rect, title, shown: null });
  }
  return bars;
}

function drawCharts(s) {
  const m = s.model;
  const sizeLabels = Array.from({ length: m.C + 1 }, (_, j) => String(j));
  const sizeStep = niceStep(Math.max(m.largestShare, 0.01));
  const sizeTop = Math.max(sizeStep, Math.ceil(m.largestShare / sizeStep - 1e-9) * sizeStep);
  const sizes = drawFrame(s.els.sizes, sizeLabels, sizeTop, sizeStep,
                          'Classes in the prediction set', 'Share of test rows');
  s.sizeChart = { y: sizes.y, bars: makeBars(s.els.sizes, m.C + 1, sizes.slot) };
  const classes = drawFrame(s.els.classes, m.names, 1.05, 0.2, 'True class',
                            'Share of its images covered');
  s.classChart = { y: classes.y, slot: classes.slot,
                   bars: makeBars(s.els.classes, m.C, classes.slot) };
  s.els.whiskers.replaceChildren();
  s.classChart.whiskers = m.names.map(() => {
    const path = svgEl('path', {});
    s.els.whiskers.append(path);
    return path;
  });
  s.els.target.setAttribute('x1', PLOT.left);
  s.els.target.setAttribute('x2', PLOT.right);
}

function setBar(bar, y, value, title) {
  const top = Number.isNaN(value) ? PLOT.bottom : y(value);
  bar.rect.setAttribute('y', top.toFixed(2));
  bar.rect.setAttribute('height', (PLOT.bottom - top).toFixed(2));
  if (bar.shown !== title) {
    bar.shown = title;
    bar.title.textContent = title;
  }
}

// the hover texts of the two charts' bars at level p (levelAt)
export function barTitles(m, p) {
  return {
    sizes: p.shares.map((share, j) => `Set size ${j}\nShare of rows ${percent(share, 1)}`),
    classes: p.classes.map((c, i) => {
      const shown = Number.isNaN(c.coverage) ? 'no test images' : percent(c.coverage, 1);
      return `Class ${m.names[i]}: ${shown} of ${c.count} images`;
    }),
  };
}

function renderCharts(s, p) {
  const titles = barTitles(s.model, p);
  const { y: ySize, bars: sizeBars } = s.sizeChart;
  p.shares.forEach((share, j) => setBar(sizeBars[j], ySize, share, titles.sizes[j]));
  const { y, slot, bars, whiskers } = s.classChart;
  p.classes.forEach((c, i) => {
    setBar(bars[i], y, c.coverage, titles.classes[i]);
    if (Number.isNaN(c.lo)) {
      whiskers[i].setAttribute('d', '');
      return;
    }
    const x = PLOT.left + (i + 0.5) * slot;
    const w = Math.min(5, 0.2 * slot);
    const lo = y(c.lo).toFixed(2);
    const hi = y(c.hi).toFixed(2);
    whiskers[i].setAttribute('d', `M${x},${lo}V${hi}M${x - w},${lo}H${x + w}M${x - w},${hi}H${x + w}`);
  });
  const yt = y(1 - p.alpha).toFixed(2);
  s.els.target.setAttribute('y1', yt);
  s.els.target.setAttribute('y2', yt);
}

// -- the numbers ---------------------------------------------------------------------------
function setText(s, name, text) {
  if (s.shown[name] !== text) {
    s.shown[name] = text;
    s.els[name].textContent = text;
  }
}

// the texts shown for level p (levelAt), formatted as the page's Python formatted them;
// `warning` is null when q̂ is finite
export function texts(m, p) {
  const lo = pyFixed(100 * p.lo, 1);
  const hi = pyFixed(100 * p.hi, 1);
  const target = percent(1 - p.alpha, 0);
  const alphaText = pyFixed(p.alpha, 2);
  return {
    output: alphaText,
    valuetext: `${alphaText}: target coverage ${target}`,
    coverageValue: percent(p.coverage, 1),
    coverageDelta: `${signed(p.delta, 1)} pts vs target`,
    coverageHelp: `Share of the ${pyInt(m.nTest)} test images whose set contains `
      + `the true class; 95% CI ${lo}–${hi}%.`,
    targetValue: target,
    averageValue: percent(p.average, 1),
    sizeValue: pyFixed(p.meanSize, 2),
    caption: `This split: coverage ${percent(p.coverage, 1)} (95% interval ${lo}–`
      + `${hi}%) on ${pyInt(m.nTest)} test images, against the target ${target}. Sets keep `
      + `every class whose score is at most q̂ = ${pyFixed(p.qhat, 4)}, the ${p.rank}-th `
      + `smallest of ${pyInt(m.nCal)} calibration scores.`,
    warning: Number.isFinite(p.qhat) ? null
      : `${m.nCal} calibration images are too few for α = ${alphaText}: `
        + 'every set holds all classes. Raise α or the calibration share.',
  };
}

function render(s) {
  const p = levelAt(s.model, s.level);
  const t = texts(s.model, p);
  for (const name of ['output', 'coverageValue', 'coverageDelta', 'coverageHelp', 'targetValue',
                      'averageValue', 'sizeValue', 'caption']) setText(s, name, t[name]);
  if (s.shown.valuetext !== t.valuetext) {
    s.shown.valuetext = t.valuetext;
    s.els.slider.setAttribute('aria-valuetext', t.valuetext);
  }
  s.els.warning.hidden = t.warning === null;
  if (t.warning !== null) setText(s, 'warning', t.warning);
  renderCharts(s, p);
}

// texts that change only with the data
function describe(s) {
  const m = s.model;
  setText(s, 'averageLabel', `Average of ${m.nDraws} splits`);
  setText(s, 'averageHelp', `Mean coverage over ${m.nDraws} random calibration/test splits `
    + `(seeds 0–${m.nDraws - 1}): the guarantee is about this average.`);
  setText(s, 'sizeHelp', `Classes per set, out of ${m.C}.`);
}

// -- the slider ----------------------------------------------------------------------------
function configure(s) {
  const m = s.model;
  const { slider } = s.els;
  slider.min = String(m.alphas[0]);
  slider.max = String(m.alphas[m.K - 1]);
  slider.step = String(m.step);
  slider.value = String(m.alphas[s.level]);
  s.els.scaleMin.textContent = pyFixed(m.alphas[0], 2);
  s.els.scaleMax.textContent = pyFixed(m.alphas[m.K - 1], 2);
}

function listen(s) {
  const { slider } = s.els;
  wireSlider(slider, {
    position: () => s.level,
    last: () => s.model.K - 1,
    set: (k) => { s.level = k; },
    value: (k) => s.model.alphas[k],
    fromInput: () => levelOf(s.model, Number(slider.value)),
    render: () => render(s),
  }, s.commit);
}

function init(parentElement) {
  const q = (sel) => parentElement.querySelector(sel);
  const metric = (name, part) => q(`[data-metric="${name}"] .ca-metric-${part}`);
  const els = {
    root: q('.ca'), slider: q('.ca-slider'), output: q('.ca-output'),
    scaleMin: q('.ca-scale span:first-child'), scaleMax: q('.ca-scale span:last-child'),
    coverageValue: metric('coverage', 'value'), coverageDelta: metric('coverage', 'delta'),
    coverageHelp: metric('coverage', 'help'), targetValue: metric('target', 'value'),
    averageLabel: metric('average', 'label'), averageValue: metric('average', 'value'),
    averageHelp: metric('average', 'help'), sizeValue: metric('size', 'value'),
    sizeHelp: metric('size', 'help'), caption: q('.ca-caption'), warning: q('.ca-warning'),
    sizes: q('.ca-sizes'), classes: q('.ca-classes'), whiskers: q('.ca-whiskers'),
    target: q('.ca-target'),
  };
  const s = { els, id: null, model: null, level: 0, shown: {}, setStateValue: () => {} };
  s.commit = new DebouncedCommit(() => s.model.alphas[s.level],
                                 (alpha) => s.setStateValue('alpha', alpha));
  listen(s);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !parentElement.querySelector('.ca')) return undefined;
  const s = mountState(parentElement, init);
  s.setStateValue = setStateValue;
  if (s.id !== data.id) {
    // new settings (or a fresh mount): take Python's α, unless a move is still to be
    // committed (then it is newer: commit it now and keep it)
    const pending = s.commit.pending && s.model !== null;
    const alpha = pending ? s.model.alphas[s.level] : data.alpha;
    if (pending) s.commit.now();
    s.id = data.id;
    s.model = buildModel(data);
    s.level = levelOf(s.model, alpha);
    s.commit.heard(s.model.alphas[s.level]);
    s.shown = {};
    configure(s);
    describe(s);
    drawCharts(s);
  } else if (s.commit.pending && s.commit.timer === null) {
    s.commit.schedule(KEY_COMMIT_MS); // a rerun cleared the timer of an α not yet committed
  }
  render(s);
  s.els.root.dataset.ready = 'true';
  return () => s.commit.pause();
}
