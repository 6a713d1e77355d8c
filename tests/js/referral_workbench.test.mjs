// The referral workbench's lookups (referral_workbench.js) on the table Python sent
// (uqviz.ui.components.referral_workbench.prepare): at every position of the budget and target
// sliders the operating point equals CompactReferral.at_budget's / for_target_accuracy's.
// Written by tests/test_components_node.py; skipped when run without it.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadComponent, num, pythonTable } from './component.mjs';

const table = pythonTable('referral_workbench');
const skip = !table && 'no table from Python (UQVIZ_COMPONENT_TABLES)';

const shown = (p) => [p.threshold, p.nRef, p.referredFraction, p.automatedAccuracy,
  ...p.automatedAccuracyCi, p.automatedErrorRate, p.referredAccuracy,
  ...p.referredAccuracyCi, p.reached];

for (const [mode, lookup] of [['budget', 'atBudgetPosition'], ['target', 'atTargetPosition']]) {
  test(`referral_workbench: every ${mode} position as CompactReferral`, { skip }, async () => {
    const mod = await loadComponent('referral_workbench');
    const M = mod.buildModel(table.payload);
    const c = M.sliders[mode];
    assert.equal(table.expected[mode].length, c.steps + 1);
    table.expected[mode].forEach((e, k) => {
      assert.equal((c.offset + k) / c.scale, e.value, `${mode} position ${k}`);
      assert.deepEqual(shown(mod[lookup](M, k)), e.point.map(num), `${mode} ${e.value}%`);
    });
  });
}

test('referral_workbench: the sliders and the cost limit come from Python', { skip }, async () => {
  const { buildModel } = await loadComponent('referral_workbench');
  const M = buildModel(table.payload);
  assert.deepEqual(M.sliders, table.sliders);
  assert.equal(M.maxCost, table.maxCost);
  assert.ok(table.expected.target.some((e) => e.point[e.point.length - 1] === false),
            'a target that is not reached');
});
