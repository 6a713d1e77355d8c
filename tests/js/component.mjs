// Loads a dashboard component's JavaScript in Node as the browser gets it: shared.js followed
// by <name>.js (uqviz.ui.components.component_js), imported as one module, so a test can call
// the functions it exports (the lookups and formatting) without a browser.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const COMPONENTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'uqviz', 'ui',
                        'components');

export async function loadComponent(name) {
  const source = readFileSync(join(COMPONENTS, 'shared.js'), 'utf8') + '\n'
    + readFileSync(join(COMPONENTS, `${name}.js`), 'utf8');
  return import(`data:text/javascript;base64,${Buffer.from(source).toString('base64')}`);
}

// The table Python wrote for component `name` (tests/test_components_node.py): the JSON file
// <name>.json in the folder UQVIZ_COMPONENT_TABLES names; null when it names none.
export function pythonTable(name) {
  const dir = process.env.UQVIZ_COMPONENT_TABLES;
  if (!dir) return null;
  return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
}

// a number Python wrote as JSON: NaN is written as null
export const num = (x) => (x === null ? NaN : x);
