// The referral workbench: Streamlit Custom Component v2 (st.components.v2.component).
//
// Python sends, once per (source, method, score), every number the workbench can show, per
// slider position (uqviz.ui.components.referral_workbench.prepare; base64, little-endian):
// the operating point at each kept cut of a uqviz.metrics.selective.CompactReferral
// (operating_point_table: the threshold, the counts, the accuracies and their Wilson
// intervals), the kept cut each position of the budget and target sliders selects
// (CompactReferral.position_at_budget, position_for_target), and for each pair of positions
// of the two cost sliders the cost-optimal cut and its expected cost (cost_table, i.e.
// CompactReferral.for_costs, with the reviewers' accuracy; d.costNote says how). This code
// computes no statistic: every key press or drag is answered here, in the same frame, by
// looking up the row of the slider's position (pointAt), formatting it as the page's Python
// formatted it and drawing the marker on the referral
// curve. Python hears only the committed value (on release, or after a pause in key presses)
// through setStateValue('commit', {mode, value}).

const CURVE_POINTS = 1200;

const THRESHOLD_LABEL = 'Threshold on the score (refer above)';

const percent = (x, d) => (Number.isNaN(x) ? '–' : `${pyFixed(100 * x, d)}%`);
const percentNumber = (x, d) => (Number.isNaN(x) ? '–' : pyFixed(100 * x, d));

// -- the data -----------------------------------------------------------------------------------
// The budget and target sliders (d.sliders, referral_workbench.SLIDERS): value(k) =
// (offset + k) / scale, k = 0 … steps, the same doubles as uqviz.ui.referral.snap_value. The
// cost sliders: value(k) = d.costs[k] (COST_VALUES); the table of a pair (e, r) is row
// e · P + r.
export function buildModel(d) {
  const f8 = (name) => decode(d[name], Float64Array);
  const i4 = (name) => decode(d[name], Int32Array);
  const thresholds = f8('thresholds');
  return {
    n: d.n, thresholds, K: thresholds.length,
    kept: i4('kept'), referred: i4('referred'), errors: i4('errors'),
    referredFraction: f8('referredFraction'), accuracy: f8('accuracy'),
    accuracyLo: f8('accuracyLo'), accuracyHi: f8('accuracyHi'), errorRate: f8('errorRate'),
    referredAccuracy: f8('referredAccuracy'), referredLo: f8('referredLo'),
    referredHi: f8('referredHi'), randomAccuracy: d.randomAccuracy,
    sliders: d.sliders, costs: d.costs, costLabels: d.costLabels, P: d.costs.length,
    budgetCut: i4('budgetCut'), targetCut: i4('targetCut'), targetReached: i4('targetReached'),
    costCut: i4('costCut'), costExpected: f8('costExpected'), costNote: d.costNote,
  };
}

// Row i of the table: the operating point at kept cut i, as CompactReferral gives it
export function pointAt(M, i, reached = true, expectedCost = NaN) {
  return {
    i, n: M.n, m: M.kept[i], nRef: M.referred[i], wrong: M.errors[i], reached,
    threshold: M.thresholds[i],
    referredFraction: M.referredFraction[i],
    automatedAccuracy: M.accuracy[i],
    automatedAccuracyCi: [M.accuracyLo[i], M.accuracyHi[i]],
    automatedErrorRate: M.errorRate[i],
    referredAccuracy: M.referredAccuracy[i],
    referredAccuracyCi: [M.referredLo[i], M.referredHi[i]],
    expectedCost,
  };
}

// the operating point of position k of the budget or target slider: the cut Python chose
export function atBudgetPosition(M, k) {
  return pointAt(M, M.budgetCut[k]);
}

export function atTargetPosition(M, k) {
  return pointAt(M, M.targetCut[k], M.targetReached[k] === 1);
}

// positions e and r of the cost sliders (an automated error, a human review): the cut and the
// expected cost Python found (CompactReferral.for_costs)
export function atCostPositions(M, e, r) {
  const row = e * M.P + r;
  return pointAt(M, M.costCut[row], true, M.costExpected[row]);
}

// -- state --------------------------------------------------------------------------------------
// the position of each slider: threshold (cut − 1), budget, target, costError, costReview
const COST_SLIDERS = { costError: 0, costReview: 1 };

function sliderValue(s, slider) {
  const M = s.model;
  if (slider === 'threshold') return M.thresholds[s.pos.threshold + 1];
  if (slider in COST_SLIDERS) return M.costs[s.pos[slider]];
  const c = M.sliders[slider];
  return (c.offset + s.pos[slider]) / c.scale;
}

function positionOf(s, slider, value) {
  const M = s.model;
  if (slider === 'threshold') {
    // the kept cut with the largest threshold <= value, never m = 0 (not on the slider)
    const i = lowerBound(M.thresholds, value);
    const at = i < M.K && M.thresholds[i] === value ? i : i - 1;
    return Math.min(Math.max(at - 1, 0), M.K - 2);
  }
  if (slider in COST_SLIDERS) {
    const k = M.costs.indexOf(value); // Python snapped it to an offered cost
    return k >= 0 ? k : Math.min(lowerBound(M.costs, value), M.P - 1);
  }
  const c = M.sliders[slider];
  return Math.min(Math.max(Math.round(value * c.scale - c.offset), 0), c.steps);
}

function lastPosition(s, slider) {
  if (slider === 'threshold') return Math.max(s.model.K - 2, 0);
  if (slider in COST_SLIDERS) return s.model.P - 1;
  return s.model.sliders[slider].steps;
}

// what the mode commits: the slider's value, or both costs
function modeValue(s, mode) {
  return mode === 'cost' ? [sliderValue(s, 'costError'), sliderValue(s, 'costReview')]
    : sliderValue(s, mode);
}

function currentPoint(s) {
  const M = s.model;
  switch (s.mode) {
    case 'threshold': return pointAt(M, s.pos.threshold + 1);
    case 'budget': return atBudgetPosition(M, s.pos.budget);
    case 'target': return atTargetPosition(M, s.pos.target);
    default: return atCostPositions(M, s.pos.costError, s.pos.costReview);
  }
}

function adopt(s, values) {
  s.pos.threshold = positionOf(s, 'threshold', values.threshold);
  s.pos.budget = positionOf(s, 'budget', values.budget);
  s.pos.target = positionOf(s, 'target', values.target);
  s.pos.costError = positionOf(s, 'costError', values.cost_error);
  s.pos.costReview = positionOf(s, 'costReview', values.cost_review);
}

// -- drawing ------------------------------------------------------------------------------------
const PLOT = { left: 64, right: 744, top: 14, bottom: 262 };

function drawCurve(s) {
  const M = s.model;
  const els = s.els;
  // y range from the cuts keeping at least 1% of the cases (at least 20): the last few
  // cases' accuracy (0 or 1) would squash the rest; the tail is clipped.
  const minKept = Math.min(M.n, Math.max(20, Math.ceil(0.01 * M.n)));
  const baseline = M.randomAccuracy;
  let lo = baseline;
  let hi = baseline;
  for (let i = 1; i < M.K; i++) {
    if (M.kept[i] < minKept) continue;
    const acc = M.accuracy[i];
    if (acc < lo) lo = acc;
    if (acc > hi) hi = acc;
  }
  const step = niceStep(Math.max(hi - lo, 0.005));
  const yLo = Math.max(0, Math.floor(lo / step - 1e-9) * step);
  const yHi = Math.min(1, Math.ceil(hi / step + 1e-9) * step);
  const ySpan = Math.max(yHi - yLo, step);
  s.scale = {
    x: (f) => PLOT.left + f * (PLOT.right - PLOT.left),
    y: (a) => PLOT.bottom - ((a - yLo) / ySpan) * (PLOT.bottom - PLOT.top),
    yClamped: (a) => PLOT.bottom - ((Math.min(Math.max(a, yLo), yHi) - yLo) / ySpan)
      * (PLOT.bottom - PLOT.top),
    yLo, yHi,
  };
  const { x, y } = s.scale;

  const grid = els.grid;
  const axes = els.axes;
  grid.replaceChildren();
  axes.replaceChildren();
  const decimals = step >= 0.01 ? 0 : 1;
  for (let t = yLo; t <= yHi + 1e-9; t += step) {
    grid.append(svgEl('line', { x1: PLOT.left, x2: PLOT.right, y1: y(t), y2: y(t) }));
    axes.append(svgEl('text', { x: PLOT.left - 8, y: y(t) + 4, 'text-anchor': 'end' },
                      `${(100 * t).toFixed(decimals)}%`));
  }
  for (let f = 0; f <= 1.0001; f += 0.2) {
    grid.append(svgEl('line', { x1: x(f), x2: x(f), y1: PLOT.top, y2: PLOT.bottom }));
    axes.append(svgEl('text', { x: x(f), y: PLOT.bottom + 18, 'text-anchor': 'middle' },
                      `${Math.round(100 * f)}%`));
  }
  axes.append(svgEl('line', { x1: PLOT.left, x2: PLOT.right, y1: PLOT.bottom, y2: PLOT.bottom }));
  axes.append(svgEl('line', { x1: PLOT.left, x2: PLOT.left, y1: PLOT.top, y2: PLOT.bottom }));
  axes.append(svgEl('text', { x: (PLOT.left + PLOT.right) / 2, y: PLOT.bottom + 42,
                              'text-anchor': 'middle', class: 'wb-axis-title' },
                    'Share of cases referred to a human'));
  axes.append(svgEl('text', { x: 14, y: (PLOT.top + PLOT.bottom) / 2, 'text-anchor': 'middle',
                              class: 'wb-axis-title',
                              transform: `rotate(-90 14 ${(PLOT.top + PLOT.bottom) / 2})` },
                    'Accuracy on the automated cases'));

  const count = M.K - 1; // cuts with m >= 1
  const every = Math.max(1, count / CURVE_POINTS);
  let d = '';
  let last = -1;
  for (let j = 0; j <= count; j += every) {
    const i = Math.min(M.K - 1, 1 + Math.round(j));
    if (i === last) continue;
    last = i;
    d += `${d ? 'L' : 'M'}${x(M.referredFraction[i]).toFixed(1)},${y(M.accuracy[i]).toFixed(1)}`;
  }
  els.curve.setAttribute('d', d);
  const yb = y(baseline).toFixed(1);
  els.baseline.setAttribute('d', `M${x(0)},${yb}L${x(M.referredFraction[1]).toFixed(1)},${yb}`);
  els.root.style.setProperty('--wb-curve', s.color || '#4c6ef5');
}

function drawMarker(s, p) {
  const { x, yClamped: y } = s.scale;
  const els = s.els;
  const px = x(p.referredFraction);
  els.vline.setAttribute('x1', px);
  els.vline.setAttribute('x2', px);
  els.vline.setAttribute('y1', PLOT.top);
  els.vline.setAttribute('y2', PLOT.bottom);
  if (Number.isNaN(p.automatedAccuracy)) {
    els.marker.setAttribute('visibility', 'hidden');
    els.errorbar.setAttribute('visibility', 'hidden');
    setText(s, 'markerText', 'Every case referred: nothing automated');
    els.markerText.setAttribute('x', px - 8);
    els.markerText.setAttribute('y', PLOT.top + 14);
    els.markerText.setAttribute('text-anchor', 'end');
    return;
  }
  const py = y(p.automatedAccuracy);
  els.marker.setAttribute('visibility', 'visible');
  els.marker.setAttribute('transform', `translate(${px.toFixed(1)},${py.toFixed(1)})`);
  const [lo, hi] = p.automatedAccuracyCi;
  els.errorbar.setAttribute('visibility', 'visible');
  els.errorbar.setAttribute('x1', px);
  els.errorbar.setAttribute('x2', px);
  els.errorbar.setAttribute('y1', y(lo));
  els.errorbar.setAttribute('y2', y(hi));
  const right = p.referredFraction < 0.6;
  els.markerText.setAttribute('x', right ? px + 14 : px - 14);
  els.markerText.setAttribute('y', Math.min(Math.max(py + 28, PLOT.top + 14), PLOT.bottom - 8));
  els.markerText.setAttribute('text-anchor', right ? 'start' : 'end');
  setText(s, 'markerText', `${p.reached ? '' : 'Target not reached: '}refer `
    + `${pyFixed(100 * p.referredFraction, 1)}% (${pyInt(p.nRef)} cases) → `
    + `${pyFixed(100 * p.automatedAccuracy, 1)}% accurate on the rest`);
}

// -- the numbers --------------------------------------------------------------------------------
function setText(s, name, text) {
  if (s.shown[name] !== text) {
    s.shown[name] = text;
    s.els[name].textContent = text;
  }
}

// The texts shown for operating point p in `mode`, as the page's Python formatted them;
// `value`: the mode's slider value (the target, for its warning); `costNote`: how the expected
// cost counts the reviewers (Python's words)
export function texts(p, mode, value, costNote = '(reviews assumed correct).') {
  const [accLo, accHi] = p.automatedAccuracyCi;
  const [refLo, refHi] = p.referredAccuracyCi;
  return {
    referredValue: `${pyFixed(100 * p.referredFraction, 1)}%`,
    referredHelp: `${pyInt(p.nRef)} of ${pyInt(p.n)} cases; threshold ${pyFixed(p.threshold, 4)}`,
    accuracyValue: percent(p.automatedAccuracy, 2),
    accuracyHelp: `95% CI ${percentNumber(accLo, 2)}–${percentNumber(accHi, 2)}% `
      + `on ${pyInt(p.m)} cases`,
    errorValue: percent(p.automatedErrorRate, 2),
    errorHelp: `${pyInt(p.wrong)} wrong of ${pyInt(p.m)} automated`,
    referredAccuracyValue: percent(p.referredAccuracy, 1),
    referredAccuracyHelp: `95% CI ${percentNumber(refLo, 1)}–${percentNumber(refHi, 1)}%: how `
      + 'often the model would have been right on the cases it hands over',
    caption: `95% Wilson intervals — automated accuracy ${percentNumber(accLo, 2)}–`
      + `${percentNumber(accHi, 2)}%; referred ${pyInt(p.nRef)} case${p.nRef !== 1 ? 's' : ''} `
      + `at threshold ${pyFixed(p.threshold, 4)}.`,
    expectedCost: mode === 'cost' ? `Expected cost per case: ${pyFixed(p.expectedCost, 3)} `
      + costNote : null,
    warning: mode === 'target' && !p.reached ? `${pyFixed(value, 1)}% accuracy is not `
      + 'reachable with this score; showing the best that is.' : null,
  };
}

function setValueText(slider, text) {
  if (slider.getAttribute('aria-valuetext') !== text) slider.setAttribute('aria-valuetext', text);
}

function render(s) {
  const p = currentPoint(s);
  const mode = s.mode;
  const shown = texts(p, mode, mode === 'cost' ? NaN : sliderValue(s, mode),
    s.model.costNote);
  for (const [name, text] of Object.entries(shown)) {
    if (text !== null) setText(s, name, text);
  }
  if (mode === 'cost') {
    for (const [name, slider] of [['costError', s.els.costError],
                                  ['costReview', s.els.costReview]]) {
      const label = s.model.costLabels[s.pos[name]];
      setText(s, `${name}Output`, label);
      setValueText(slider, label);
    }
  } else {
    const v = sliderValue(s, mode);
    const value = mode === 'threshold' ? pyFixed(v, 4) : `${pyFixed(v, 1)}%`;
    setText(s, 'output', value);
    setValueText(s.els.slider, mode === 'threshold'
      ? `${value}: refer ${pyInt(p.nRef)} of ${pyInt(p.n)} cases` : value);
  }
  s.els.warning.hidden = shown.warning === null;
  s.els.expectedCost.hidden = shown.expectedCost === null;
  drawMarker(s, p);
}

// -- controls -----------------------------------------------------------------------------------
function setRange(slider, last, position) {
  slider.min = '0';
  slider.max = String(last);
  slider.step = '1';
  slider.value = String(position);
}

function configure(s) {
  const { slider, sliderRow, costs, label, scaleMin, scaleMax } = s.els;
  const mode = s.mode;
  const M = s.model;
  costs.hidden = mode !== 'cost';
  sliderRow.hidden = mode === 'cost';
  if (mode === 'cost') {
    setRange(s.els.costError, M.P - 1, s.pos.costError);
    setRange(s.els.costReview, M.P - 1, s.pos.costReview);
    return;
  }
  if (mode === 'threshold') {
    label.textContent = THRESHOLD_LABEL;
    setRange(slider, lastPosition(s, mode), s.pos.threshold);
    scaleMin.textContent = pyFixed(M.thresholds[1], 4);
    scaleMax.textContent = pyFixed(M.thresholds[M.K - 1], 4);
  } else {
    const c = M.sliders[mode];
    label.textContent = c.label;
    slider.min = String(c.min);
    slider.max = String(c.max);
    slider.step = c.step;
    slider.value = String(sliderValue(s, mode));
    scaleMin.textContent = `${c.min}%`;
    scaleMax.textContent = `${c.max}%`;
  }
}

function listen(s) {
  const { slider, costError, costReview } = s.els;
  // one slider for the mode's positions; the commit sends the mode it was moved in
  const moved = () => { s.movedMode = s.mode; render(s); };
  wireSlider(slider, {
    position: () => s.pos[s.mode],
    last: () => lastPosition(s, s.mode),
    set: (k) => { s.pos[s.mode] = k; },
    value: (k) => (s.mode === 'threshold' ? k : sliderValue(s, s.mode)),
    fromInput: () => {
      const v = Number(slider.value);
      return s.mode === 'threshold' ? Math.round(v) : positionOf(s, s.mode, v);
    },
    render: moved,
  }, s.commit);
  for (const [name, input] of [['costError', costError], ['costReview', costReview]]) {
    wireSlider(input, {
      position: () => s.pos[name],
      last: () => s.model.P - 1,
      set: (k) => { s.pos[name] = k; },
      value: (k) => k,
      fromInput: () => Math.round(Number(input.value)),
      render: moved,
    }, s.commit);
  }
}

function init(parentElement) {
  const q = (sel) => parentElement.querySelector(sel);
  const root = q('.wb');
  const metric = (name) => root.querySelector(`[data-metric="${name}"]`);
  const els = {
    root,
    sliderRow: q('.wb-slider-row'), slider: q('.wb-slider'), label: q('.wb-label'),
    output: q('.wb-output'), scaleMin: q('.wb-scale-min'), scaleMax: q('.wb-scale-max'),
    costs: q('.wb-costs'), costError: q('#wb-cost-error'), costReview: q('#wb-cost-review'),
    costErrorOutput: q('.wb-cost-error-output'), costReviewOutput: q('.wb-cost-review-output'),
    warning: q('.wb-warning'), expectedCost: q('.wb-expected-cost'), caption: q('.wb-caption'),
    resolution: q('.wb-resolution'),
    grid: q('.wb-grid'), axes: q('.wb-axes'), curve: q('.wb-curve'), baseline: q('.wb-baseline'),
    vline: q('.wb-vline'), errorbar: q('.wb-errorbar'), marker: q('.wb-marker'),
    markerText: q('.wb-marker-text'),
  };
  for (const [name, key] of [['referred', 'referred'], ['accuracy', 'accuracy'],
                             ['error', 'error'], ['referred-accuracy', 'referredAccuracy']]) {
    els[`${key}Value`] = metric(name).querySelector('.wb-metric-value');
    els[`${key}Help`] = metric(name).querySelector('.wb-metric-help');
  }
  els.marker.setAttribute('d', 'M0,-8L8,0L0,8L-8,0Z');
  const s = { els, id: null, model: null, mode: 'threshold', movedMode: 'threshold', pos: {},
              shown: {}, setStateValue: () => {} };
  // the value of the mode last moved, sent when the moves pause (release: at once)
  s.commit = new DebouncedCommit(() => ({ mode: s.movedMode, value: modeValue(s, s.movedMode) }),
                                 (value) => s.setStateValue('commit', value));
  listen(s);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !parentElement.querySelector('.wb')) return undefined;
  const s = mountState(parentElement, init);
  s.setStateValue = setStateValue;
  // a move not yet committed in another mode than Python's: commit it now
  if (s.commit.pending && s.movedMode !== data.mode) s.commit.now();
  if (s.id !== data.id) {
    // new scores (or a fresh mount): take the values Python holds; afterwards the values
    // here are newer than any Python sends back for the same scores
    s.commit.cancel();
    s.id = data.id;
    s.model = buildModel(data);
    s.color = data.color;
    adopt(s, data.values);
    s.movedMode = data.mode;
    s.commit.heard({ mode: data.mode, value: modeValue(s, data.mode) });
    s.els.resolution.textContent = data.resolution;
    drawCurve(s);
  } else if (s.commit.pending && s.commit.timer === null) {
    s.commit.schedule(KEY_COMMIT_MS); // a rerun cleared the timer of a move not yet committed
  }
  s.mode = data.mode;
  configure(s);
  render(s);
  s.els.root.dataset.ready = 'true';
  return () => s.commit.pause();
}
