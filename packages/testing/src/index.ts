export { layoutFixture, NOTEBOOK_LAYOUTS, type NotebookLayout, uvLayouts } from './layouts.js';
export { type CollectedProcess, spawnNode, untilStarted } from './process.js';
export { until } from './until.js';
export { buildTinyWheel, SYSTEM_PYTHON } from './wheel.js';
