// Helpers shared by the dashboard's Custom Components v2. A component's JavaScript is this
// file followed by its own (component_js in uqviz/ui/components/__init__.py), so every
// component formats numbers as Python does, computes Wilson intervals as
// uqviz.metrics.classification.wilson_ci and draws SVG the same way.

// -- numbers as Python prints them ----------------------------------------------------------
// f"{x:.{d}f}": correctly rounded, ties to even on the exact binary value (toFixed breaks
// exact ties upwards), "-" kept on a negative value that rounds to zero, "nan" for NaN.
export function pyFixed(x, d) {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const negative = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let s = a.toFixed(d);
  if (a < 1e21) {
    const exact = a.toFixed(100);
    const dot = exact.indexOf('.');
    const tail = exact.slice(dot + 1 + d);
    if (tail[0] === '5' && /^0*$/.test(tail.slice(1))) {
      const truncated = d > 0 ? exact.slice(0, dot + 1 + d) : exact.slice(0, dot);
      if (Number(truncated[truncated.length - 1]) % 2 === 0) s = truncated;
    }
  }
  return negative ? `-${s}` : s;
}

// f"{n:,}"
export function pyInt(n) {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

// -- arrays sent by Python: base64 of little-endian bytes -> a typed array -------------
export function decode(b64, Type) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Type(bytes.buffer);
}

// wilson_ci(k, m): the same operations in the same order as numpy.
export function wilson(k, m, z) {
  if (m === 0) return [NaN, NaN];
  const p = k / m;
  const denom = 1.0 + z * z / m;
  const centre = (p + z * z / (2.0 * m)) / denom;
  const half = z / denom * Math.sqrt(p * (1.0 - p) / m + z * z / (4.0 * m * m));
  const clip = (v) => Math.min(Math.max(v, 0.0), 1.0);
  return [clip(centre - half), clip(centre + half)];
}

// -- SVG ------------------------------------------------------------------------------
export const SVG_NS = 'http://www.w3.org/2000/svg';

export function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// a tick step giving at most six ticks over span
export function niceStep(span) {
  for (const step of [0.001, 0.002, 0.005, 0.01, 0.02, 0.025, 0.05, 0.1, 0.2, 0.25]) {
    if (span / step <= 6) return step;
  }
  return 0.5;
}

// -- sliders ------------------------------------------------------------------------------------
const SLIDER_KEY_STEPS = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };

// Where a key moves a slider of positions 0 … last from position k, as a native range input
// does: arrows one step, PageUp/PageDown a tenth of the range (at least one step, or `page`),
// Home/End the ends; null for any other key (let the browser have it).
export function keyPosition(key, k, last, page = Math.max(1, Math.round(last / 10))) {
  if (key in SLIDER_KEY_STEPS) return k + SLIDER_KEY_STEPS[key];
  if (key === 'PageUp') return k + page;
  if (key === 'PageDown') return k - page;
  if (key === 'Home') return 0;
  if (key === 'End') return last;
  return null;
}
