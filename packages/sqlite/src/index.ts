export {
  type OpenDatabaseOptions,
  openDatabase,
  type SqliteDatabase,
  toStoreError,
  writeTransaction,
} from './database.js';
export { SqliteErrorCode, SqliteStoreError } from './errors.js';
export { type MigrationFile, migrate, packageDir, readMigrations } from './migrations.js';
