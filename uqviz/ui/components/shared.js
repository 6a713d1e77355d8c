// Helpers shared by the dashboard's Custom Components v2. A component's JavaScript is this
// file followed by its own (component_js in uqviz/ui/components/__init__.py), so every
// component decodes the arrays Python sends, formats numbers as Python does, draws SVG, moves
// its slider, commits the value to Python and keeps its state per mount the same way. No
// statistic is computed here or in any component: Python sends every number a component
// shows, per slider position (tests/test_components_node.py checks the code for it).

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

// numpy.searchsorted(arr, x, side='left') on an ascending array: the first index whose value
// is not below x (arr.length when none)
export function lowerBound(arr, x) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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

// Wires a native <input type="range"> whose moves the component answers itself, in the same
// frame. Its positions are 0 … moves.last(); moves.position() is the current one.
// * A key that keyPosition knows (PageUp/PageDown by moves.page when given) moves to that
//   position, clamped: moves.set(k), then the input's value becomes moves.value(k).
// * A drag or a click moves to moves.fromInput(), the position the input's value stands for
//   (null: none), with moves.set(k) (the input keeps its value).
// A move that changed the position is drawn (moves.render()); every move schedules the
// commit after KEY_COMMIT_MS (commit.schedule(ms)), and the release (change) commits at once
// (commit.now()).
export function wireSlider(slider, moves, commit) {
  slider.addEventListener('keydown', (e) => {
    const next = keyPosition(e.key, moves.position(), moves.last(), moves.page);
    if (next === null) return;
    e.preventDefault();
    const k = Math.min(Math.max(next, 0), moves.last());
    if (k === moves.position()) return;
    moves.set(k);
    slider.value = String(moves.value(k));
    moves.render();
    commit.schedule(KEY_COMMIT_MS);
  });
  slider.addEventListener('input', () => {
    const k = moves.fromInput();
    if (k !== null && k !== moves.position()) {
      moves.set(k);
      moves.render();
    }
    commit.schedule(KEY_COMMIT_MS);
  });
  slider.addEventListener('change', () => commit.now()); // released after a drag or a click
}

// -- committing to Python -----------------------------------------------------------------------
// After a key press, the pause (ms) before the value is committed to Python.
export const KEY_COMMIT_MS = 300;

// The value a component commits to Python: every move is answered in the page, and Python
// hears the value (send(value), a setStateValue) only when the moves pause (schedule) or end
// (now), and never the value it last heard (compared as JSON). read() gives the value to send
// at the moment it is sent. `pending`: a move not yet sent, also while a cleanup has paused
// its timer (`timer` null).
export class DebouncedCommit {
  constructor(read, send) {
    this.read = read;
    this.send = send;
    this.timer = null;
    this.pending = false;
    this.lastHeard = undefined;
  }

  // send read() after `ms` without another move
  schedule(ms) {
    clearTimeout(this.timer);
    this.pending = true;
    this.timer = setTimeout(() => this.now(), ms);
  }

  // send read() now, unless it is the value Python last heard
  now() {
    this.cancel();
    const value = this.read();
    const encoded = JSON.stringify(value);
    if (encoded === this.lastHeard) return;
    this.lastHeard = encoded;
    this.send(value);
  }

  // Python holds `value` (sent with new data, or just sent): do not send it again
  heard(value) {
    this.lastHeard = JSON.stringify(value);
  }

  // stop the timer; the move stays pending (a cleanup: a later render may schedule it again)
  pause() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  // forget the pending move (new data replaces it)
  cancel() {
    this.pause();
    this.pending = false;
  }
}

// -- mounting ---------------------------------------------------------------------------------
const MOUNTED = new WeakMap();

// The state a component keeps per mount (its parentElement): init(parentElement) on the
// first call, the same object on every later one.
export function mountState(parentElement, init) {
  let s = MOUNTED.get(parentElement);
  if (!s) {
    s = init(parentElement);
    MOUNTED.set(parentElement, s);
  }
  return s;
}
