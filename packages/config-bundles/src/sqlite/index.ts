export { type ConfigBundleRow, configBundles } from './schema.js';
export {
  type BundleAvailability,
  type ConfigBundleStore,
  type ConfigBundleStoreOptions,
  type ConfigBundleSummary,
  type GcOptions,
  openConfigBundleStore,
} from './store.js';
