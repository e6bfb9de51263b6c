export { trustAudit, trustedPackages } from './schema.js';
export {
  type OpenTrustStoreOptions,
  type OpenTrustStoreTarget,
  openTrustStore,
  type SqliteTrustStore,
} from './store.js';
