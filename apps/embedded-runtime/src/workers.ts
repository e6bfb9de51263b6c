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
import { stopBubblewrap } from '@runyard/sandbox';
import {
  type EgressManager,
  type EgressPlan,
  type HostGrantPolicy,
  planEgress,
  resolveMounts,
  type WorkerEgress,
} from './egress.js';
import type { RuntimeEvents } from './events.js';
import type { NotebookManager } from './notebooks.js';
import { resolveWorkspaceDir } from './paths.js';
import type { RuntimeRedaction } from './redaction.js';
import type { RuntimeSandbox } from './sandboxing.js';

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
  /** Every resolved secret value is registered here before anything can print it. */
  redaction: RuntimeRedaction;
  sandbox: RuntimeSandbox;
  egress: EgressManager;
  /** The host's definitions of `mount:` and `network:` references. */
  grantPolicy: HostGrantPolicy;
}

interface Worker {
  info: WorkerInfo;
  child?: ChildProcess;
  exited?: Promise<void>;
  egress?: WorkerEgress;
  /** The child is a bwrap launcher, not the command itself. */
  sandboxed?: boolean;
  stopRequested: boolean;
}

/** Resolves when the process has exited (its stdio may still be open). */
function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function delay(ms: number): Promise<'timeout'> {
  return new Promise((resolve) => setTimeout(() => resolve('timeout'), ms).unref());
}

/** Env var a secret grant is exposed as: its declaration name, upper-cased, `[^A-Z0-9_]` → `_`. */
export function secretEnvName(declarationName: string): string {
  const name = declarationName.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * Agent workers created from config-bundle profiles: `kernel` profiles get a notebook-less
 * kernel, `command` profiles a process in the workspace whose environment holds only what the
 * profile grants. A granted secret is a per-worker placeholder in that environment; the real
 * value lives only in the worker's egress proxy, which swaps it in on granted destinations.
 * When sandboxed, the process runs in bubblewrap and the proxy is its only way out.
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
        // missing or unreadable: not a directory the worker can use
      }
      if (!isDir)
        throw new RuntimeError(
          'invalid_request',
          "The profile's cwd is not a directory in the workspace",
        );
      const resolved = await resolveSecretGrants(spec.grants.secrets, this.options.secrets);
      const values = new Map<string, string>();
      for (const [name, secret] of resolved) {
        const value = secret.reveal();
        values.set(name, value);
        this.options.redaction.add(secretEnvName(name), value);
      }
      const { sandbox, grantPolicy } = this.options;
      // Host policy first (fails closed on anything it does not define), nothing started yet.
      const mounts = sandbox.sandboxed
        ? resolveMounts(spec.grants.mounts, grantPolicy, sandbox.hidden)
        : undefined;
      const plan: EgressPlan | undefined =
        spec.grants.secrets.length > 0 || spec.grants.network.length > 0
          ? planEgress(spec.grants.secrets, spec.grants.network, values, secretEnvName, grantPolicy)
          : undefined;
      if (plan) worker.egress = await this.options.egress.start(workerId, plan, sandbox.sandboxed);
      this.workers.set(workerId, worker);
      this.publish(worker);
      try {
        this.spawnCommand(worker, spec, cwd, plan?.placeholders ?? {}, mounts);
      } catch (error) {
        // e.g. a sandbox spec the launcher refuses: nothing runs, the proxy stops.
        await worker.egress?.close();
        worker.info.state = 'failed';
        worker.info.reason = 'spawn_failed';
        this.publish(worker);
        throw error;
      }
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
    placeholders: Readonly<Record<string, string>>,
    mounts: ReturnType<typeof resolveMounts>,
  ): void {
    if (spec.worker.kind !== 'command') return;
    const env: Record<string, string> = {
      PATH: this.options.path,
      RUNYARD_WORKER_ID: worker.info.workerId,
      ...placeholders,
      ...(worker.egress?.env ?? {}),
    };
    const { sandbox } = this.options;
    if (sandbox.sandboxed && !sandbox.findsProgram(spec.worker.argv[0] as string, cwd)) {
      worker.info.state = 'failed';
      worker.info.reason = 'command_not_found';
      worker.exited = (worker.egress?.close() ?? Promise.resolve()).then(() =>
        this.publish(worker),
      );
      return;
    }
    const argv = sandbox.sandboxed
      ? sandbox.commandArgv({
          command: spec.worker.argv,
          cwd,
          mounts,
          ...(worker.egress
            ? {
                egressDir: worker.egress.dir,
                ...(worker.egress.proxySocket ? { proxySocket: worker.egress.proxySocket } : {}),
              }
            : {}),
          env,
        })
      : [...spec.worker.argv];
    const [command, ...args] = argv as [string, ...string[]];
    const child = spawn(command, args, {
      cwd,
      // bwrap clears the environment and sets the worker's own inside.
      env: sandbox.sandboxed ? { PATH: this.options.path } : env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so stopping the worker stops whatever it started.
      detached: true,
    });
    worker.child = child;
    worker.sandboxed = sandbox.sandboxed;
    let spawnError: NodeJS.ErrnoException | undefined;
    // One redaction stream over stdout and stderr in arrival order: a value split between them
    // (or across writes) is caught; each piece keeps its stream.
    const redactor = this.options.redaction.merged<'stdout' | 'stderr'>();
    const emit = (pieces: { label: 'stdout' | 'stderr'; text: string }[]) => {
      for (const piece of pieces) this.emitOutput(worker, piece.label, piece.text);
    };
    let open = 2;
    for (const stream of ['stdout', 'stderr'] as const) {
      const source = child[stream];
      source?.setEncoding('utf8');
      source?.on('data', (chunk: string) => emit(redactor.write(stream, chunk)));
      source?.on('close', () => {
        if (--open === 0) emit(redactor.end());
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
      child.once('close', async (code, signal) => {
        worker.child = undefined;
        // The proxy (and the real secret values it holds) stops with the worker.
        await worker.egress?.close();
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

  /**
   * Stops a command worker and resolves once it is gone. Under bwrap the child is the launcher:
   * signalling it alone can orphan a sandbox still in setup (see stopBubblewrap), so the sandbox
   * is stopped through its pid-namespace init. Never waits unboundedly on output pipes: a process
   * that escaped into another session could hold them open for ever.
   */
  private async terminate(worker: Worker): Promise<void> {
    const child = worker.child;
    const grace = this.options.stopGraceMs ?? 2000;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const pid = child.pid;
      const kill = (signal: NodeJS.Signals) => {
        try {
          process.kill(-pid, signal);
        } catch {
          // already gone
        }
      };
      if (worker.sandboxed) {
        await stopBubblewrap(pid, { graceMs: grace });
        await exitOf(child);
      } else {
        kill('SIGTERM');
        const timer = setTimeout(() => kill('SIGKILL'), grace);
        await exitOf(child);
        clearTimeout(timer);
        // Anything the worker left in its group goes too.
        kill('SIGKILL');
      }
    }
    if (child && worker.exited) {
      if ((await Promise.race([worker.exited, delay(grace)])) === 'timeout') {
        // The worker is dead; whatever still holds its pipes is not, and is not waited for.
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
    }
    await worker.exited;
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
