import { WorkspaceError } from './errors.js';

/**
 * Which runtime owns each worker id created through this server, so `/api/workers/:id` needs no
 * runtime. Ids are unique across runtimes, first come first served: a second worker with an id
 * some runtime already holds is refused (`worker_id_taken`, 409) instead of re-pointing the id,
 * which would leave the first worker (a local sandboxed worker holding its secrets) unreachable
 * and let a registered remote shadow it. An id a runtime answered with (a remote picks its own
 * when none is asked for) is claimed the same way, so a hostile remote cannot take a local
 * worker's id either (`remote_worker_id_refused`).
 *
 * Plain data, no I/O: the routes reserve before they call a runtime and release on failure, so
 * two concurrent creates of one id cannot both get it.
 */
export class WorkerDirectory {
  readonly #owners = new Map<string, string>();

  runtimeOf(workerId: string): string | undefined {
    return this.#owners.get(workerId);
  }

  /** Holds `workerId` for `runtimeId` before the runtime is asked; returns the release. */
  reserve(workerId: string, runtimeId: string): () => void {
    if (this.#owners.has(workerId)) {
      throw new WorkspaceError(
        'worker_id_taken',
        'a worker with this id already exists on a runtime of this server',
      );
    }
    this.#owners.set(workerId, runtimeId);
    return () => {
      if (this.#owners.get(workerId) === runtimeId) this.#owners.delete(workerId);
    };
  }

  /**
   * Records the id a runtime answered with. `false` when another runtime holds it: the answer
   * is not believed (the caller stops that worker on the runtime that made it).
   */
  claim(workerId: string, runtimeId: string): boolean {
    const owner = this.#owners.get(workerId);
    if (owner !== undefined && owner !== runtimeId) return false;
    this.#owners.set(workerId, runtimeId);
    return true;
  }

  /** An unregistered runtime's ids become free again. */
  forgetRuntime(runtimeId: string): void {
    for (const [workerId, owner] of this.#owners) {
      if (owner === runtimeId) this.#owners.delete(workerId);
    }
  }
}
