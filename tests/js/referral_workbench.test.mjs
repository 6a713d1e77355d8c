// The referral workbench's lookups and formatting (referral_workbench.js) on the table Python
// sent (uqviz.ui.components.referral_workbench.prepare): at every position of every slider
// (threshold, budget, target, and each pair of cost positions) the operating point equals
// CompactReferral's (at_threshold, at_budget, for_target_accuracy, for_costs) and its texts
// the page's f-strings. Written by tests/test_components_node.py; skipped when run without it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadComponent, num, pythonTable } from './component.mjs';

const table = pythonTable('referral_workbench');
const skip = !table && 'no table from Python (UQVIZ_COMPONENT_TABLES)';

const shown = (p) => [p.threshold, p.nRef, p.referredFraction, p.automatedAccuracy,
  ...p.automatedAccuracyCi, p.automatedErrorRate, p.referredAccuracy,
  ...p.referredAccuracyCi, p.reached, p.expectedCost];

function check(mod, M, e, p, mode, value) {
  assert.deepEqual(shown(p), e.point.map(num), `${mode} ${JSON.stringify(e.value)}`);
  assert.deepEqual(mod.texts(p, mode, value), e.texts, `${mode} texts ${JSON.stringify(e.value)}`);
}

test('referral_workbench: every threshold position as CompactReferral.at_threshold', { skip }, async () => {
  const mod = await loadComponent('referral_workbench');
  const M = mod.buildModel(table.payload);
  assert.equal(table.expected.threshold.length, M.K - 1);
  table.expected.threshold.forEach((e, k) => {
    assert.equal(M.thresholds[k + 1], e.value);
    check(mod, M, e, mod.pointAt(M, k + 1), 'threshold', NaN);
  });
});

for (const [mode, lookup] of [['budget', 'atBudgetPosition'], ['target', 'atTargetPosition']]) {
  test(`referral_workbench: every ${mode} position as CompactReferral`, { skip }, async () => {
    const mod = await loadComponent('referral_workbench');
    const M = mod.buildModel(table.payload);
    const c = M.sliders[mode];
    assert.equal(table.expected[mode].length, c.steps + 1);
    table.expected[mode].forEach((e, k) => {
      assert.equal((c.offset + k) / c.scale, e.value, `${mode} position ${k}`);
      check(mod, M, e, mod[lookup](M, k), mode, e.value);
    });
  });
}

test('referral_workbench: every pair of cost positions as CompactReferral.for_costs', { skip }, async () => {
  const mod = await loadComponent('referral_workbench');
  const M = mod.buildModel(table.payload);
  assert.equal(table.expected.cost.length, M.P * M.P);
  table.expected.cost.forEach((e, row) => {
    const [ce, cr] = [Math.floor(row / M.P), row % M.P];
    assert.deepEqual([M.costs[ce], M.costs[cr]], e.value);
    check(mod, M, e, mod.atCostPositions(M, ce, cr), 'cost', NaN);
  });
});

test('referral_workbench: the sliders and the costs come from Python', { skip }, async () => {
  const { buildModel } = await loadComponent('referral_workbench');
  const M = buildModel(table.payload);
  assert.deepEqual(M.sliders, table.sliders);
  assert.deepEqual(M.costs, table.costs);
  assert.deepEqual(M.costLabels, table.costLabels);
  assert.ok(table.expected.target.some((e) => e.point[e.point.length - 2] === false),
            'a target that is not reached');
});
