export { until } from './until.js';
export { buildTinyWheel, SYSTEM_PYTHON } from './wheel.js';
