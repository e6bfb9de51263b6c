export const SqliteErrorCode = {
  databaseCorrupt: 'database_corrupt',
  databaseOpenFailed: 'database_open_failed',
  databaseBusy: 'database_busy',
  migrationFailed: 'migration_failed',
} as const;

export type SqliteErrorCode = (typeof SqliteErrorCode)[keyof typeof SqliteErrorCode];

/** Storage failures. Messages name the database by file name only, never by host path. */
export class SqliteStoreError extends Error {
  override readonly name = 'SqliteStoreError';
  readonly code: SqliteErrorCode;

  constructor(code: SqliteErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
