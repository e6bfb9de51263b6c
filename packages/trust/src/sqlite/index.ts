export { trustAudit, trustedPackages, trustSeededDefaults } from './schema.js';
export {
  type OpenTrustStoreOptions,
  type OpenTrustStoreTarget,
  openTrustStore,
  type SqliteTrustStore,
} from './store.js';
