// The referral workbench: Streamlit Custom Component v2 (st.components.v2.component).
//
// Python sends, once per (source, method, score), the kept cuts of a
// uqviz.metrics.selective.CompactReferral: for each cut i the threshold, the count of
// automated cases kept[i] and the correct predictions among them correct[i] (base64,
// little-endian), the budget and target sliders (referral_workbench.SLIDERS) with the kept
// cut each of their positions selects (CompactReferral.position_at_budget,
// position_for_target) and the costs' limit. Every key press or drag is answered here, in the
// same frame: the cut of the slider's position is looked up (the threshold slider's positions
// are the cuts), the cost mode's cut found as CompactReferral.for_costs, the operating point's
// numbers computed as operating_point_from_counts (the Wilson intervals as
// uqviz.metrics.classification.wilson_ci), formatted as Python formats them, and the marker
// drawn on the referral curve. Python hears only the committed value (on release,
// or after a pause in typing) through setStateValue('commit', {mode, value}).

const TYPE_COMMIT_MS = 500;
const CURVE_POINTS = 1200;

const THRESHOLD_LABEL = 'Threshold on the score (refer above)';

const percent = (x, d) => (Number.isNaN(x) ? '–' : `${pyFixed(100 * x, d)}%`);
const percentNumber = (x, d) => (Number.isNaN(x) ? '–' : pyFixed(100 * x, d));

// -- the data -----------------------------------------------------------------------------------
// The budget and target sliders (d.sliders, referral_workbench.SLIDERS): value(k) =
// (offset + k) / scale, k = 0 … steps, the same doubles as uqviz.ui.referral.snap_value.
export function buildModel(d) {
  const thresholds = decode(d.thresholds, Float64Array);
  const kept = decode(d.kept, Int32Array);
  const correct = decode(d.correct, Int32Array);
  const K = kept.length;
  return {
    n: d.n, z: d.z, thresholds, kept, correct, K, total: correct[K - 1],
    sliders: d.sliders, maxCost: d.maxCost,
    budgetCut: decode(d.budgetCut, Int32Array),
    targetCut: decode(d.targetCut, Int32Array),
    targetReached: decode(d.targetReached, Int32Array),
  };
}

export function pointAt(M, i, reached = true, costs = null) {
  const m = M.kept[i];
  const correctAuto = M.correct[i];
  const nRef = M.n - m;
  const correctRef = M.total - correctAuto;
  const automatedAccuracy = m ? correctAuto / m : NaN;
  return {
    i, m, nRef, n: M.n, reached, correctAuto,
    threshold: M.thresholds[i],
    referredFraction: nRef / M.n,
    automatedAccuracy,
    automatedAccuracyCi: wilson(correctAuto, m, M.z),
    automatedErrorRate: 1.0 - automatedAccuracy,
    referredAccuracy: nRef ? correctRef / nRef : NaN,
    referredAccuracyCi: wilson(correctRef, nRef, M.z),
    expectedCost: costs ? ((m - correctAuto) * costs[0] + nRef * costs[1]) / M.n : NaN,
  };
}

// the operating point of position k of the budget or target slider: the cut Python chose
export function atBudgetPosition(M, k) {
  return pointAt(M, M.budgetCut[k]);
}

export function atTargetPosition(M, k) {
  return pointAt(M, M.targetCut[k], M.targetReached[k] === 1);
}

export function forCosts(M, costError, costReview) {
  const { n, kept, correct, K } = M;
  const cost = (i) => ((kept[i] - correct[i]) * costError + (n - kept[i]) * costReview) / n;
  let best = Infinity;
  for (let i = 0; i < K; i++) best = Math.min(best, cost(i));
  const tolerance = best + 1e-12 * Math.max(1.0, Math.abs(best));
  let chosen = K - 1; // ties: the fewest referrals, the last cut within the tolerance
  while (chosen > 0 && !(cost(chosen) <= tolerance)) chosen--;
  return pointAt(M, chosen, true, [costError, costReview]);
}

// -- state --------------------------------------------------------------------------------------
function sliderValue(s, mode) {
  if (mode === 'threshold') return s.model.thresholds[s.pos.threshold + 1];
  const c = s.model.sliders[mode];
  return (c.offset + s.pos[mode]) / c.scale;
}

function positionOf(s, mode, value) {
  if (mode === 'threshold') {
    // the kept cut with the largest threshold <= value, never m = 0 (not on the slider)
    const i = lowerBound(s.model.thresholds, value);
    const at = i < s.model.K && s.model.thresholds[i] === value ? i : i - 1;
    return Math.min(Math.max(at - 1, 0), s.model.K - 2);
  }
  const c = s.model.sliders[mode];
  return Math.min(Math.max(Math.round(value * c.scale - c.offset), 0), c.steps);
}

function steps(s, mode) {
  return mode === 'threshold' ? Math.max(s.model.K - 2, 0) : s.model.sliders[mode].steps;
}

function currentPoint(s) {
  const M = s.model;
  switch (s.mode) {
    case 'threshold': return pointAt(M, s.pos.threshold + 1);
    case 'budget': return atBudgetPosition(M, s.pos.budget);
    case 'target': return atTargetPosition(M, s.pos.target);
    default: return forCosts(M, s.costs[0], s.costs[1]);
  }
}

function adopt(s, values) {
  s.pos.threshold = positionOf(s, 'threshold', values.threshold);
  s.pos.budget = positionOf(s, 'budget', values.budget);
  s.pos.target = positionOf(s, 'target', values.target);
  s.costs = [values.cost_error, values.cost_review];
  s.committed = {
    threshold: JSON.stringify(sliderValue(s, 'threshold')),
    budget: JSON.stringify(sliderValue(s, 'budget')),
    target: JSON.stringify(sliderValue(s, 'target')),
    cost: JSON.stringify(s.costs),
  };
}

// -- drawing ------------------------------------------------------------------------------------
const PLOT = { left: 64, right: 744, top: 14, bottom: 262 };

function drawCurve(s) {
  const M = s.model;
  const els = s.els;
  // y range from the cuts keeping at least 1% of the cases (at least 20): the last few
  // cases' accuracy (0 or 1) would squash the rest; the tail is clipped.
  const minKept = Math.min(M.n, Math.max(20, Math.ceil(0.01 * M.n)));
  const baseline = M.total / M.n;
  let lo = baseline;
  let hi = baseline;
  for (let i = 1; i < M.K; i++) {
    if (M.kept[i] < minKept) continue;
    const acc = M.correct[i] / M.kept[i];
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
    d += `${d ? 'L' : 'M'}${x((M.n - M.kept[i]) / M.n).toFixed(1)},${y(M.correct[i] / M.kept[i]).toFixed(1)}`;
  }
  els.curve.setAttribute('d', d);
  const yb = y(baseline).toFixed(1);
  els.baseline.setAttribute('d', `M${x(0)},${yb}L${x((M.n - M.kept[1]) / M.n).toFixed(1)},${yb}`);
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

function render(s) {
  const p = currentPoint(s);
  const [accLo, accHi] = p.automatedAccuracyCi;
  const [refLo, refHi] = p.referredAccuracyCi;
  setText(s, 'referredValue', `${pyFixed(100 * p.referredFraction, 1)}%`);
  setText(s, 'referredHelp', `${pyInt(p.nRef)} of ${pyInt(p.n)} cases; threshold `
    + `${pyFixed(p.threshold, 4)}`);
  setText(s, 'accuracyValue', percent(p.automatedAccuracy, 2));
  setText(s, 'accuracyHelp', `95% CI ${percentNumber(accLo, 2)}–${percentNumber(accHi, 2)}% `
    + `on ${pyInt(p.m)} cases`);
  setText(s, 'errorValue', percent(p.automatedErrorRate, 2));
  setText(s, 'errorHelp', `${pyInt(p.m - p.correctAuto)} wrong of ${pyInt(p.m)} automated`);
  setText(s, 'referredAccuracyValue', percent(p.referredAccuracy, 1));
  setText(s, 'referredAccuracyHelp', `95% CI ${percentNumber(refLo, 1)}–`
    + `${percentNumber(refHi, 1)}%: how often the model would have been right on the cases it `
    + 'hands over');
  setText(s, 'caption', `95% Wilson intervals — automated accuracy ${percentNumber(accLo, 2)}–`
    + `${percentNumber(accHi, 2)}%; referred ${pyInt(p.nRef)} case${p.nRef !== 1 ? 's' : ''} at `
    + `threshold ${pyFixed(p.threshold, 4)}.`);
  const mode = s.mode;
  if (mode === 'cost') {
    setText(s, 'expectedCost', `Expected cost per case: ${pyFixed(p.expectedCost, 3)} `
      + '(reviews assumed correct).');
  } else {
    const v = sliderValue(s, mode);
    const shown = mode === 'threshold' ? pyFixed(v, 4) : `${pyFixed(v, 1)}%`;
    setText(s, 'output', shown);
    const text = mode === 'threshold'
      ? `${shown}: refer ${pyInt(p.nRef)} of ${pyInt(p.n)} cases` : shown;
    if (s.shown.valuetext !== text) {
      s.shown.valuetext = text;
      s.els.slider.setAttribute('aria-valuetext', text);
    }
  }
  const warn = mode === 'target' && !p.reached;
  s.els.warning.hidden = !warn;
  if (warn) {
    setText(s, 'warning', `${pyFixed(sliderValue(s, 'target'), 1)}% accuracy is not reachable `
      + 'with this score; showing the best that is.');
  }
  s.els.expectedCost.hidden = mode !== 'cost';
  drawMarker(s, p);
}

// -- controls -----------------------------------------------------------------------------------
function configure(s) {
  const { slider, sliderRow, costs, label, scaleMin, scaleMax } = s.els;
  const mode = s.mode;
  costs.hidden = mode !== 'cost';
  sliderRow.hidden = mode === 'cost';
  if (mode === 'cost') {
    const max = String(s.model.maxCost);
    for (const input of [s.els.costError, s.els.costReview]) {
      if (input.max !== max) input.max = max;
    }
    if (s.els.costError.value !== String(s.costs[0])) s.els.costError.value = String(s.costs[0]);
    if (s.els.costReview.value !== String(s.costs[1])) s.els.costReview.value = String(s.costs[1]);
    return;
  }
  if (mode === 'threshold') {
    label.textContent = THRESHOLD_LABEL;
    slider.min = '0';
    slider.max = String(steps(s, mode));
    slider.step = '1';
    slider.value = String(s.pos.threshold);
    scaleMin.textContent = pyFixed(s.model.thresholds[1], 4);
    scaleMax.textContent = pyFixed(s.model.thresholds[s.model.K - 1], 4);
  } else {
    const c = s.model.sliders[mode];
    label.textContent = c.label;
    slider.min = String(c.min);
    slider.max = String(c.max);
    slider.step = c.step;
    slider.value = String(sliderValue(s, mode));
    scaleMin.textContent = `${c.min}%`;
    scaleMax.textContent = `${c.max}%`;
  }
}

function commit(s, mode = s.mode) {
  clearTimeout(s.timer);
  s.timer = null;
  const value = mode === 'cost' ? [s.costs[0], s.costs[1]] : sliderValue(s, mode);
  const encoded = JSON.stringify(value);
  if (s.committed[mode] === encoded) return;
  s.committed[mode] = encoded;
  s.setStateValue('commit', { mode, value });
}

function schedule(s, ms) {
  clearTimeout(s.timer);
  const mode = s.mode;
  s.pendingMode = mode;
  s.timer = setTimeout(() => commit(s, mode), ms);
}

function listen(s) {
  const { slider, costError, costReview } = s.els;
  // one slider for the mode's positions; the commit remembers the mode it was scheduled in
  wireSlider(slider, {
    position: () => s.pos[s.mode],
    last: () => steps(s, s.mode),
    set: (k) => { s.pos[s.mode] = k; },
    value: (k) => (s.mode === 'threshold' ? k : sliderValue(s, s.mode)),
    fromInput: () => {
      const v = Number(slider.value);
      return s.mode === 'threshold' ? Math.round(v) : positionOf(s, s.mode, v);
    },
    render: () => render(s),
  }, { schedule: (ms) => schedule(s, ms), now: () => commit(s) });
  const onCost = (which, input, ms) => {
    const v = input.value === '' ? NaN : Number(input.value);
    const ok = Number.isFinite(v) && v >= 0 && v <= s.model.maxCost;
    input.setAttribute('aria-invalid', ok ? 'false' : 'true');
    if (!ok) return;
    if (v !== s.costs[which]) {
      s.costs[which] = v;
      render(s);
    }
    schedule(s, ms);
  };
  costError.addEventListener('input', () => onCost(0, costError, TYPE_COMMIT_MS));
  costReview.addEventListener('input', () => onCost(1, costReview, TYPE_COMMIT_MS));
  costError.addEventListener('change', () => { onCost(0, costError, 0); });
  costReview.addEventListener('change', () => { onCost(1, costReview, 0); });
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
  const s = { els, id: null, model: null, mode: 'threshold', pos: {}, costs: [10, 1],
              committed: {}, shown: {}, timer: null, setStateValue: () => {} };
  listen(s);
  return s;
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  if (!data || !parentElement.querySelector('.wb')) return undefined;
  const s = mountState(parentElement, init);
  s.setStateValue = setStateValue;
  if (s.id !== data.id) {
    // new scores (or a fresh mount): take the values Python holds; afterwards the values
    // here are newer than any Python sends back for the same scores
    clearTimeout(s.timer);
    s.timer = null;
    s.id = data.id;
    s.model = buildModel(data);
    s.color = data.color;
    adopt(s, data.values);
    s.els.resolution.textContent = data.resolution;
    drawCurve(s);
  }
  if (s.timer !== null && s.pendingMode !== data.mode) commit(s, s.pendingMode);
  s.mode = data.mode;
  configure(s);
  render(s);
  s.els.root.dataset.ready = 'true';
  return () => clearTimeout(s.timer);
}
