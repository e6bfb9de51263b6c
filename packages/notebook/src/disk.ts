// What to do when the file on disk may have changed under an open document. Pure: the runtime
// reads the bytes (or learns the file is gone), hashes them, and acts on the decision.

import { NotebookError } from './errors.js';

export type DiskDecision =
  /** The file holds what the document was loaded from or last saved as. */
  | { action: 'unchanged' }
  /** The file changed and the document has no unsaved edits: load the new bytes. */
  | { action: 'reload'; diskHash: string }
  /**
   * The file changed (or vanished) and the document has unsaved edits, or vanished with no
   * edits: never overwrite silently. `error` is the typed 409 to report.
   */
  | { action: 'conflict'; reason: 'modified' | 'deleted'; error: NotebookError };

export function decideDiskChange(input: {
  /** sha256 (hex) of the bytes now on disk; `null` when the file no longer exists. */
  diskHash: string | null;
  /** sha256 (hex) of the bytes loaded or last saved. */
  knownHash: string;
  hasUnsavedChanges: boolean;
}): DiskDecision {
  const { diskHash, knownHash, hasUnsavedChanges } = input;
  if (diskHash === knownHash) return { action: 'unchanged' };
  if (diskHash !== null && !hasUnsavedChanges) return { action: 'reload', diskHash };
  const reason = diskHash === null ? 'deleted' : 'modified';
  return {
    action: 'conflict',
    reason,
    error: new NotebookError(
      'notebook_changed_on_disk',
      reason === 'deleted'
        ? 'the notebook file was deleted or moved since it was loaded'
        : 'the notebook file changed on disk since it was loaded, and this document has unsaved changes',
      {
        details: {
          reason,
          nextAction: {
            kind: 'resolve_disk_conflict',
            diskHash: diskHash ?? '',
            knownHash,
            choices: [
              ...(diskHash === null
                ? []
                : [{ choice: 'reload_from_disk' as const, discards: 'unsaved_changes' as const }]),
              { choice: 'overwrite_disk' as const, discards: 'disk_changes' as const },
              { choice: 'save_to_other_path' as const, discards: 'nothing' as const },
            ],
          },
        },
      },
    ),
  };
}
