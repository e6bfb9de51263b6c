import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import {
  CreateWorkerRequest,
  type ResolvedWorkerSpec,
  resolveSecretGrants,
  resolveWorkerSpec,
  type SecretResolver,
} from '@runyard/config-bundles';
import type { ConfigBundleStore } from '@runyard/config-bundles/sqlite';
import { RuntimeError, type WorkerInfo } from '@runyard/runtime-registry';
import type { RuntimeEvents } from './events.js';
import type { NotebookManager } from './notebooks.js';
import { resolveWorkspaceDir } from './paths.js';
import { StreamRedactor } from './redact.js';

export interface WorkerManagerOptions {
  workspaceRoot: string;
  bundles: ConfigBundleStore;
  secrets: SecretResolver;
  notebooks: NotebookManager;
  events: RuntimeEvents;
  /** The host's PATH, the one host variable a command worker gets (to find its program). */
  path: string;
  now: () => Date;
  stopGraceMs?: number;
}

interface Worker {
  info: WorkerInfo;
  child?: ChildProcess;
  exited?: Promise<void>;
  stopRequested: boolean;
}

/** Env var a secret grant is exposed as: its declaration name, upper-cased, `[^A-Z0-9_]` → `_`. */
export function secretEnvName(declarationName: string): string {
  const name = declarationName.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * Agent workers created from config-bundle profiles: `kernel` profiles get a notebook-less
 * kernel, `command` profiles a process in the workspace whose environment holds only what the
 * profile grants. Secret values live in that environment and nowhere else: output events are
 * redacted, and no message or event carries them.
 */
export class WorkerManager {
  private readonly workers = new Map<string, Worker>();

  constructor(private readonly options: WorkerManagerOptions) {}

  private publish(worker: Worker): void {
    this.options.events.emit({ type: 'worker_state', worker: this.info(worker) });
  }

  private info(worker: Worker): WorkerInfo {
    const info = { ...worker.info };
    if (info.kind === 'kernel' && info.notebookId && info.state !== 'stopped') {
      const state = this.options.notebooks.lifecycleOf(info.notebookId);
      if (state?.lifecycle === 'idle' || state?.lifecycle === 'busy') info.state = 'running';
      else if (state?.lifecycle === 'error') {
        info.state = 'failed';
        info.reason = state.error?.reason ?? 'kernel_failed';
      } else if (state?.lifecycle === 'shutdown') info.state = 'stopped';
    }
    return info;
  }

  get(workerId: string): WorkerInfo {
    const worker = this.workers.get(workerId);
    if (!worker) throw new RuntimeError('worker_not_found', 'No worker with this id');
    return this.info(worker);
  }

  list(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => this.info(w));
  }

  async create(request: unknown): Promise<WorkerInfo> {
    const parsed = CreateWorkerRequest.safeParse(request);
    const ref = parsed.success ? parsed.data.configBundle : undefined;
    const bundle = ref ? this.options.bundles.get(ref) : undefined;
    const spec = resolveWorkerSpec({ request, ...(bundle ? { bundle } : {}) });
    const workerId = spec.workerId ?? `worker-${randomUUID()}`;
    if (this.workers.has(workerId))
      throw new RuntimeError('invalid_request', 'A worker with this id already exists');
    const worker: Worker = {
      info: {
        workerId,
        profile: spec.profile,
        mode: spec.mode,
        kind: spec.worker.kind,
        state: 'starting',
        ...(spec.configBundle ? { configBundle: spec.configBundle } : {}),
        createdAt: this.options.now().toISOString(),
      },
      stopRequested: false,
    };
    if (spec.worker.kind === 'command') {
      // Resolve before registering: a worker never starts with part of its credentials.
      const cwd = resolveWorkspaceDir(this.options.workspaceRoot, spec.worker.cwd);
      let isDir = false;
      try {
        isDir = statSync(cwd).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir)
        throw new RuntimeError(
          'invalid_request',
          "The profile's cwd is not a directory in the workspace",
        );
      const secrets = await resolveSecretGrants(spec.grants.secrets, this.options.secrets);
      this.workers.set(workerId, worker);
      this.publish(worker);
      this.spawnCommand(worker, spec, cwd, secrets);
      return this.info(worker);
    }
    this.workers.set(workerId, worker);
    this.publish(worker);
    try {
      const notebook = await this.options.notebooks.createKernel(spec.worker.runtime);
      worker.info.notebookId = notebook.notebookId;
      if (notebook.lifecycle === 'idle' || notebook.lifecycle === 'busy')
        worker.info.state = 'running';
      else {
        worker.info.state = 'failed';
        worker.info.reason = notebook.error?.reason ?? 'kernel_failed';
      }
    } catch (error) {
      worker.info.state = 'failed';
      worker.info.reason = error instanceof RuntimeError ? error.code : 'kernel_failed';
    }
    this.publish(worker);
    return this.info(worker);
  }

  private spawnCommand(
    worker: Worker,
    spec: ResolvedWorkerSpec,
    cwd: string,
    secrets: Map<string, { reveal(): string }>,
  ): void {
    if (spec.worker.kind !== 'command') return;
    const env: Record<string, string> = {
      PATH: this.options.path,
      RUNYARD_WORKER_ID: worker.info.workerId,
    };
    const values: string[] = [];
    for (const [name, secret] of secrets) {
      const value = secret.reveal();
      env[secretEnvName(name)] = value;
      values.push(value);
    }
    const [command, ...args] = spec.worker.argv as [string, ...string[]];
    const child = spawn(command, args, {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stopping the worker stops whatever it started.
      detached: true,
    });
    worker.child = child;
    let spawnError: NodeJS.ErrnoException | undefined;
    for (const stream of ['stdout', 'stderr'] as const) {
      const redactor = new StreamRedactor(values);
      const source = child[stream];
      source?.setEncoding('utf8');
      source?.on('data', (chunk: string) => {
        const text = redactor.push(chunk);
        if (text) this.emitOutput(worker, stream, text);
      });
      source?.on('end', () => {
        const text = redactor.flush();
        if (text) this.emitOutput(worker, stream, text);
      });
    }
    worker.exited = new Promise<void>((resolve) => {
      child.once('spawn', () => {
        if (worker.info.state === 'starting') {
          worker.info.state = 'running';
          this.publish(worker);
        }
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        spawnError = error;
      });
      child.once('close', (code, signal) => {
        worker.child = undefined;
        worker.info.exitCode = code;
        if (spawnError) {
          worker.info.state = 'failed';
          worker.info.reason = spawnError.code === 'ENOENT' ? 'command_not_found' : 'spawn_failed';
        } else if (worker.stopRequested || code === 0) {
          worker.info.state = 'stopped';
        } else {
          worker.info.state = 'failed';
          worker.info.reason = signal ? `killed by ${signal}` : `exited with code ${code}`;
        }
        this.publish(worker);
        resolve();
      });
    });
  }

  private emitOutput(worker: Worker, stream: 'stdout' | 'stderr', text: string): void {
    this.options.events.emit({
      type: 'worker_output',
      workerId: worker.info.workerId,
      stream,
      text,
    });
  }

  async stop(workerId: string): Promise<WorkerInfo> {
    const worker = this.workers.get(workerId);
    if (!worker) throw new RuntimeError('worker_not_found', 'No worker with this id');
    worker.stopRequested = true;
    if (worker.info.kind === 'kernel') {
      if (worker.info.notebookId && worker.info.state !== 'stopped') {
        await this.options.notebooks.shutdown(worker.info.notebookId).catch(() => undefined);
      }
      worker.info.state = 'stopped';
      this.publish(worker);
      return this.info(worker);
    }
    await this.terminate(worker);
    return this.info(worker);
  }

  private async terminate(worker: Worker): Promise<void> {
    const child = worker.child;
    if (child?.pid !== undefined) {
      const pid = child.pid;
      const kill = (signal: NodeJS.Signals) => {
        try {
          process.kill(-pid, signal);
        } catch {
          // already gone
        }
      };
      kill('SIGTERM');
      const grace = this.options.stopGraceMs ?? 2000;
      const timer = setTimeout(() => kill('SIGKILL'), grace);
      await worker.exited;
      clearTimeout(timer);
      // Anything the worker left in its group goes too.
      kill('SIGKILL');
    } else if (worker.exited) {
      await worker.exited;
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.workers.values()].map(async (worker) => {
        worker.stopRequested = true;
        if (worker.info.kind === 'command') await this.terminate(worker);
        else if (worker.info.state !== 'stopped') worker.info.state = 'stopped';
      }),
    );
  }
}
