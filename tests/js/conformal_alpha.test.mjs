// The α slider's lookups and formatting (conformal_alpha.js) on the table Python sent
// (uqviz.ui.components.conformal_alpha.build_payload), against what the Python core
// (ConformalSplit.sets, class_coverage) gives at each level, formatted with the page's f-strings.
// Written by tests/test_components_node.py; skipped when run without it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadComponent, num, pythonTable } from './component.mjs';

const table = pythonTable('conformal_alpha');

test('conformal_alpha: every level looked up and formatted as Python', { skip: !table && 'no table from Python (UQVIZ_COMPONENT_TABLES)' }, async () => {
  const { buildModel, levelOf, levelAt, texts, barTitles } = await loadComponent('conformal_alpha');
  const m = buildModel(table.payload);
  assert.equal(m.K, table.expected.length);
  for (const e of table.expected) {
    const k = levelOf(m, e.alpha);
    assert.equal(m.alphas[k], e.alpha);
    const p = levelAt(m, k);
    assert.equal(p.coverage, e.coverage, `coverage at α = ${e.alpha}`);
    assert.deepEqual(p.classes.map((c) => [c.hits, c.count, c.coverage, c.lo, c.hi]),
                     e.classes.map((c) => c.map(num)), `classes at α = ${e.alpha}`);
    assert.deepEqual(texts(m, p), e.texts, `texts at α = ${e.alpha}`);
    assert.deepEqual(barTitles(m, p), e.titles, `bar titles at α = ${e.alpha}`);
  }
});

test('conformal_alpha: the slider step comes from Python', { skip: !table && 'no table from Python (UQVIZ_COMPONENT_TABLES)' }, async () => {
  const { buildModel } = await loadComponent('conformal_alpha');
  assert.equal(buildModel(table.payload).step, table.step);
});
