// The subsample slider's lookups and formatting (interval_subsample.js) on the table Python
// sent (uqviz.ui.components.interval_subsample.prepare): at the sizes the slider offers, the
// table, the warnings, the caption, the axis title and the chart's hover titles equal the Python
// core's accuracy_intervals(correct, [n], n_resamples=None) formatted with the page's f-strings.
// Written by tests/test_components_node.py; skipped when run without it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadComponent, pythonTable } from './component.mjs';

const table = pythonTable('interval_subsample');
const skip = !table && 'no table from Python (UQVIZ_COMPONENT_TABLES)';

test('interval_subsample: every size looked up and formatted as Python', { skip }, async () => {
  const { buildModel, texts } = await loadComponent('interval_subsample');
  const M = buildModel(table.payload);
  assert.ok(table.expected.length >= 80, `${table.expected.length} sizes`);
  for (const { position, size, ...expected } of table.expected) {
    assert.equal(M.sizes[position], size);
    assert.deepEqual(texts(M, position), expected, `${size} rows`);
  }
});
