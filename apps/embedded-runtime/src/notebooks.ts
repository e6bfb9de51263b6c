import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  type Dependency,
  EnvDetectionError,
  type EnvFs,
  type ResolvedEnvironment,
  resolveEnvironment,
  toDependency,
} from '@runyard/env-detection';
import {
  decisiveLines,
  type ExitInfo,
  hideHostPaths,
  type KernelClient,
  KernelError,
  launchDenoKernel,
  type NotebookOutput,
} from '@runyard/kernels';
import {
  CreateNotebookRequestSchema,
  type ExecuteRequest,
  ExecuteRequestSchema,
  type ExecuteResult,
  type KernelStatus,
  type Lifecycle,
  ManageDependenciesRequestSchema,
  type NextAction,
  RuntimeError,
  type RuntimeInfo,
  type RuntimeKind,
  type TrustSummary,
} from '@runyard/runtime-registry';
import { type MergedStreamRedactor, SandboxError } from '@runyard/sandbox';
import { buildNextAction, type TrustDecision, TrustError, type TrustService } from '@runyard/trust';
import type { ZodType } from 'zod';
import { editDependencies } from './dependency-edit.js';
import type { Environments, PreparedEnv } from './environments.js';
import type { RuntimeEvents } from './events.js';
import { setNotebookMetadata } from './json-splice.js';
import { type NotebookDocument, newNotebookText, parseDocument } from './notebook-file.js';
import { parseDocumentAsync, readNotebookDocument } from './notebook-parse.js';
import { resolveWorkspacePath } from './paths.js';
import type { NotebookRecordStore } from './sqlite/notebook-store.js';
import { unsafe, WorkspaceFs, workspaceEnvFs } from './workspace-fs.js';

export interface RestartPolicy {
  /** Automatic restarts allowed within `windowMs`; then the notebook stays in `error`. */
  maxRestarts: number;
  windowMs: number;
}

/** 3 automatic restarts in 5 minutes, then the notebook stays in `error`. */
export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 3, windowMs: 5 * 60_000 };

/**
 * Whether a kernel that died at `now` may be restarted automatically, given the times of the
 * earlier automatic restarts. Returns the restart history to keep: the restarts still inside the
 * window, plus `now` when the restart is allowed.
 */
export function decideRestart(
  restarts: readonly number[],
  now: number,
  policy: RestartPolicy,
): { restart: boolean; restarts: number[] } {
  const recent = restarts.filter((at) => now - at < policy.windowMs);
  if (recent.length >= policy.maxRestarts) return { restart: false, restarts: recent };
  return { restart: true, restarts: [...recent, now] };
}

export interface NotebookManagerOptions {
  workspaceRoot: string;
  environments: Environments;
  trust: TrustService;
  events: RuntimeEvents;
  records: NotebookRecordStore;
  runtimeDir: string;
  env: NodeJS.ProcessEnv;
  preferredManager: 'uv' | 'conda';
  restartPolicy: RestartPolicy;
  /**
   * `confirm`: an environment that is not in the cache yet is built only once a caller agreed
   * (`awaiting_env_build`, left through `manageDependencies({ apply: 'sync' })`). Default `auto`.
   */
  envBuilds?: 'auto' | 'confirm';
  /** Recorded in the trust audit log for approvals made through this runtime. */
  actor: string;
  now: () => number;
  /** Output one execution collects before it is truncated (default: the kernels package's). */
  outputBudgetBytes?: number;
  /** Notebook kernels running or starting at once; more are refused `too_many_kernels`. */
  maxKernels?: number;
  /** Whether kernels run in the sandbox (reported on every RuntimeInfo). */
  sandbox: 'bwrap' | 'off';
  /**
   * A redaction stream over one execution's stdout and stderr (in arrival order), so a value
   * printed in pieces is caught before output events leave; default: none (events are still
   * redacted per message by the events' own redactor).
   */
  outputRedactor?: () => MergedStreamRedactor<'stdout' | 'stderr'>;
  /**
   * Where the full output of a failed env build or kernel start is written
   * (`<logDir>/notebook-<id>.log`, 0600, overwritten by the next failure); none when unset.
   */
  logDir?: string;
  /** Host directories named by a label in error details (`<workspace>`, `<cache>`, `~`). */
  hostPaths?: readonly { path: string; label: string }[];
}

/** Default cap on notebook kernels per runtime (each is a Python process of ~50 MB or more). */
export const DEFAULT_MAX_KERNELS = 32;

interface Session {
  id: string;
  /** Workspace-relative: every read and write goes through `WorkspaceFs` with it. */
  path: string | null;
  /** The lexical absolute path: the kernel's cwd and the detection walk start, never opened. */
  absolute: string | null;
  /** In-memory document of an ephemeral notebook. */
  document?: NotebookDocument;
  runtime: RuntimeKind;
  lifecycle: Lifecycle;
  kernel?: KernelClient;
  kernelStatus: KernelStatus | null;
  env?: PreparedEnv;
  envSource: string | null;
  envHash: string | null;
  trust: TrustSummary;
  projectDependencies: Dependency[];
  nextAction?: NextAction;
  error?: { reason: string; details: string };
  starting?: Promise<void>;
  abort?: AbortController;
  /** Bumped by every start and stop, so a superseded start drops what it launched. */
  generation: number;
  restarts: number[];
  /** The env hash a caller agreed to build (with `envBuilds: 'confirm'`). */
  buildApproved?: string;
  /** The last queued read-modify-write of the document (see `editDocument`). */
  documentEdits: Promise<unknown>;
}

const PROJECT_SOURCES = new Set(['uv:pyproject', 'pixi:toml', 'conda:env_yml']);
const RUNNING: ReadonlySet<Lifecycle> = new Set(['idle', 'busy']);
const IN_FLIGHT: ReadonlySet<Lifecycle> = new Set([
  'resolving',
  'preparing_env',
  'launching',
  'connecting',
]);
/** Reasons a restart can fix; the others need the notebook or the host fixed first. */
const RESTARTABLE = new Set([
  'kernel_died',
  'kernel_exited',
  'kernel_start_timeout',
  'restart_limit_reached',
  'env_build_failed',
  'env_build_aborted',
  'missing_ipykernel',
]);

const emptyTrust = (): TrustSummary => ({
  status: 'no_dependencies',
  needsApproval: false,
  untrusted: [],
  warnings: [],
  fingerprint: '',
});

function trustSummary(decision: TrustDecision): TrustSummary {
  return {
    status: decision.status,
    needsApproval: decision.needsApproval,
    untrusted: decision.untrusted.map(({ ecosystem, name, spec }) => ({ ecosystem, name, spec })),
    warnings: decision.warnings.map((warning) => ({ ...warning })),
    fingerprint: decision.fingerprint,
  };
}

/** Percent-encodes an id as one URL path segment. */
function segment(id: string): string {
  return encodeURIComponent(id).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function envBuildAction(notebookId: string, message: string): NextAction {
  return {
    kind: 'approve_env_build',
    message,
    mcp: { tool: 'manage_dependencies', arguments: { notebook_id: notebookId, apply: 'sync' } },
    http: {
      method: 'POST',
      path: `/api/notebooks/${segment(notebookId)}/dependencies`,
      body: { apply: 'sync' },
    },
  };
}

function restartAction(notebookId: string, message: string): NextAction {
  return {
    kind: 'restart_kernel',
    message,
    mcp: { tool: 'restart_kernel', arguments: { notebook_id: notebookId } },
    http: { method: 'POST', path: `/api/notebooks/${segment(notebookId)}/restart` },
  };
}

/** The output a failed kernel error carries: a build's whole log, else the stderr tail. */
function failureOutput(error: unknown): string[] {
  if (!(error instanceof KernelError)) return [];
  return error.details.log ?? error.details.stderrTail ?? [];
}

/**
 * A typed failure turned into `error.reason` + `details`; messages are already host-path free.
 * A failed tool (pip, uv, conda, the kernel) adds the lines of its output that say why, with
 * host paths replaced (`hide`), and the name of the file holding its whole output (`logFile`,
 * relative to the data dir).
 */
export function failureReason(
  error: unknown,
  context: { hide?: (text: string) => string; logFile?: string } = {},
): { reason: string; details: string } {
  if (error instanceof KernelError) {
    const exit =
      error.details.exitCode != null
        ? ` (exit code ${error.details.exitCode})`
        : error.details.signal
          ? ` (signal ${error.details.signal})`
          : '';
    // Some messages already name the exit code; say it once.
    let details =
      exit && error.message.includes(exit.trim()) ? error.message : `${error.message}${exit}`;
    const hide = context.hide ?? ((text: string) => hideHostPaths(text));
    const why = decisiveLines(failureOutput(error)).map(hide);
    if (why.length > 0) details += `: ${why.join(' | ')}`;
    if (context.logFile) details += ` (full output: ${context.logFile} in the data dir)`;
    return { reason: error.code, details };
  }
  if (error instanceof EnvDetectionError || error instanceof TrustError)
    return { reason: error.code, details: error.message };
  if (error instanceof RuntimeError || error instanceof SandboxError)
    return { reason: error.code, details: error.message };
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR')
    return { reason: 'notebook_unreadable', details: `The notebook file cannot be read (${code})` };
  return { reason: 'internal_error', details: 'The runtime failed unexpectedly' };
}

export function parseRequest<T>(schema: ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    throw new RuntimeError('invalid_request', `Invalid request: ${where}${issue?.message ?? ''}`);
  }
  return parsed.data;
}

/**
 * Owns every notebook's runtime: resolution, trust, environment, kernel and lifecycle. Every
 * blocked state carries a `nextAction`; nothing ever waits for a human with a timeout.
 */
export class NotebookManager {
  private readonly sessions = new Map<string, Session>();
  private readonly byPath = new Map<string, string>();
  /** Kernels stopped on purpose: their death is not a crash. */
  private readonly stopped = new WeakSet<KernelClient>();
  private closed = false;
  /** Every workspace file operation: no symlink followed, regular files only, bounded reads. */
  private readonly files: WorkspaceFs;
  /** The same checks for the project files environment detection reads. */
  private readonly envFs: EnvFs;

  constructor(private readonly options: NotebookManagerOptions) {
    this.files = new WorkspaceFs(options.workspaceRoot);
    this.envFs = workspaceEnvFs(this.files);
  }

  /**
   * Lists notebooks a previous run knew as `not_started` (their kernels died with it), and
   * removes the temp files a write killed with that run left beside them.
   */
  async restore(): Promise<void> {
    for (const record of this.options.records.list()) {
      let absolute: string;
      try {
        absolute = resolveWorkspacePath(this.options.workspaceRoot, record.path).absolute;
      } catch {
        this.options.records.remove(record.id);
        continue;
      }
      await this.files.removeStaleTemps(record.path).catch(() => 0);
      const found = await this.files.stat(record.path).catch(() => null);
      if (found?.kind !== 'file') {
        this.options.records.remove(record.id);
        continue;
      }
      this.add({ id: record.id, path: record.path, absolute, runtime: record.runtime });
    }
  }

  private add(init: {
    id: string;
    path: string | null;
    absolute: string | null;
    runtime: RuntimeKind;
    document?: NotebookDocument;
  }): Session {
    const session: Session = {
      ...init,
      lifecycle: 'not_started',
      kernelStatus: null,
      envSource: null,
      envHash: null,
      trust: emptyTrust(),
      projectDependencies: [],
      generation: 0,
      restarts: [],
      documentEdits: Promise.resolve(),
    };
    this.sessions.set(session.id, session);
    if (session.path !== null) this.byPath.set(session.path, session.id);
    return session;
  }

  info(session: Session): RuntimeInfo {
    return {
      notebookId: session.id,
      path: session.path,
      runtime: session.runtime,
      lifecycle: session.lifecycle,
      kernelStatus: session.kernelStatus,
      envSource: session.envSource,
      envHash: session.envHash,
      trust: { ...session.trust },
      ...(session.nextAction ? { nextAction: session.nextAction } : {}),
      ...(session.error ? { error: { ...session.error } } : {}),
      sandbox: this.options.sandbox,
    };
  }

  /**
   * Refuses to start one more kernel past `maxKernels` (typed, 429), counting the notebooks
   * other than `session` that hold a kernel or are starting one. Checked where a caller asks
   * for a start, so the refusal reaches that caller; the warm pool is bounded on its own.
   */
  private admit(session: Session): void {
    const max = this.options.maxKernels ?? DEFAULT_MAX_KERNELS;
    let running = 0;
    for (const other of this.sessions.values()) {
      if (other !== session && (other.kernel !== undefined || other.starting !== undefined))
        running++;
    }
    if (running >= max)
      throw new RuntimeError(
        'too_many_kernels',
        `This runtime already runs ${running} notebook kernels (its limit is ${max}); shut one down and try again`,
      );
  }

  private publish(session: Session): void {
    this.options.events.emit({
      type: 'lifecycle',
      notebookId: session.id,
      info: this.info(session),
    });
  }

  private setLifecycle(session: Session, lifecycle: Lifecycle): void {
    session.lifecycle = lifecycle;
    this.publish(session);
  }

  private readonly hidePaths = (text: string): string =>
    hideHostPaths(text, this.options.hostPaths ?? []);

  /**
   * Keeps a failed tool's whole output where the operator can read it: `logs/notebook-<id>.log`
   * under the data dir (bounded by the kernels package's MAX_BUILD_LOG_BYTES, mode 0600). Returns
   * that relative name, or undefined when there is nothing to keep or it cannot be written.
   */
  private async saveFailureOutput(session: Session, error: unknown): Promise<string | undefined> {
    const output = failureOutput(error);
    const dir = this.options.logDir;
    if (output.length === 0 || !dir) return undefined;
    const name = `notebook-${session.id.replace(/[^A-Za-z0-9._-]/g, '_')}.log`;
    const header = [
      `# ${(error as KernelError).code}: ${(error as KernelError).message}`,
      `# notebook ${session.path ?? session.id}, ${new Date(this.options.now()).toISOString()}`,
    ];
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFile(join(dir, name), `${[...header, ...output].join('\n')}\n`, { mode: 0o600 });
      return `logs/${name}`;
    } catch {
      return undefined;
    }
  }

  private fail(session: Session, failure: { reason: string; details: string }): void {
    session.error = failure;
    session.nextAction = RESTARTABLE.has(failure.reason)
      ? restartAction(
          session.id,
          `The notebook's kernel is not running (${failure.reason}). Restart it with the restart_kernel tool or POST /api/notebooks/${segment(session.id)}/restart.`,
        )
      : undefined;
    this.setLifecycle(session, 'error');
  }

  session(notebookId: string): Session {
    const session = typeof notebookId === 'string' ? this.sessions.get(notebookId) : undefined;
    if (!session) throw new RuntimeError('notebook_not_found', 'No notebook with this id');
    return session;
  }

  list(): RuntimeInfo[] {
    return [...this.sessions.values()].map((s) => this.info(s));
  }

  get(notebookId: string): RuntimeInfo {
    return this.info(this.session(notebookId));
  }

  private assertOpen(): void {
    if (this.closed) throw new RuntimeError('runtime_closed', 'The runtime is shut down');
  }

  // ---- create / open -------------------------------------------------------------------------

  async create(request: unknown): Promise<RuntimeInfo> {
    this.assertOpen();
    const req = parseRequest(CreateNotebookRequestSchema, request);
    const runtime = req.runtime ?? 'python';
    const specs = req.dependencies ?? [];
    const manager = req.packageManager ?? this.options.preferredManager;
    if (runtime === 'deno' && specs.length > 0)
      throw new RuntimeError('invalid_request', 'A Deno notebook takes no Python dependencies');
    const ecosystem = manager === 'uv' ? 'pypi' : 'conda';
    const dependencies = specs.map((spec) => toDependency(spec, ecosystem));
    const text = newNotebookText({
      runtime,
      dependencies: { manager, specs: dependencies.map((dep) => dep.spec) },
    });

    let session: Session;
    let fresh: boolean;
    if (req.ephemeral) {
      if (req.path !== undefined)
        throw new RuntimeError('invalid_request', 'An ephemeral notebook has no path');
      session = this.add({
        id: randomUUID(),
        path: null,
        absolute: null,
        runtime,
        document: parseDocument(text),
      });
      fresh = true;
    } else {
      const id = randomUUID();
      const target = resolveWorkspacePath(
        this.options.workspaceRoot,
        req.path ?? `untitled-${id.slice(0, 8)}.ipynb`,
        { extension: '.ipynb' },
      );
      // A create that finds a non-empty file restores it as it is: the file's dependencies are
      // not the caller's to vouch for, so nothing is granted and nothing is overwritten.
      await this.files.removeStaleTemps(target.relative);
      fresh = !(await this.hasContent(target.relative));
      if (fresh) await this.files.writeFileAtomic(target.relative, text, { createParents: true });
      const existingId = this.byPath.get(target.relative);
      session =
        (existingId ? this.sessions.get(existingId) : undefined) ??
        this.add({ id, path: target.relative, absolute: target.absolute, runtime });
      this.options.records.upsert({ id: session.id, path: target.relative, runtime });
    }
    if (fresh && dependencies.length > 0) {
      // The create call named these packages itself: that is the consent.
      this.options.trust.seedFromCreate(dependencies, {
        freshlyCreated: true,
        actor: this.options.actor,
        notebookPath: session.path,
      });
    }
    await this.ensureStarted(session);
    return this.info(session);
  }

  async open(path: string): Promise<RuntimeInfo> {
    this.assertOpen();
    const target = resolveWorkspacePath(this.options.workspaceRoot, path, {
      extension: '.ipynb',
    });
    const found = await this.files.stat(target.relative);
    if (found === null) throw new RuntimeError('notebook_not_found', 'No notebook at this path');
    // Checked again on the opened file at every read; refused here so no session is made for it.
    if (found.kind !== 'file')
      throw unsafe('The path is not a regular file (a symlink, directory, FIFO or device)');
    await this.files.removeStaleTemps(target.relative);
    const existingId = this.byPath.get(target.relative);
    const session =
      (existingId ? this.sessions.get(existingId) : undefined) ??
      this.add({
        id: randomUUID(),
        path: target.relative,
        absolute: target.absolute,
        runtime: 'python',
      });
    this.options.records.upsert({
      id: session.id,
      path: target.relative,
      runtime: session.runtime,
    });
    await this.ensureStarted(session);
    return this.info(session);
  }

  /** A notebook-less kernel (a `kernel` worker): ephemeral, no dependencies. */
  async createKernel(runtime: RuntimeKind): Promise<RuntimeInfo> {
    return this.create({ ephemeral: true, runtime });
  }

  private async ensureStarted(session: Session): Promise<void> {
    if (session.starting) await session.starting;
    else if (session.lifecycle === 'not_started' || session.lifecycle === 'shutdown') {
      this.admit(session);
      await this.start(session);
    }
  }

  // ---- the start flow ------------------------------------------------------------------------

  private start(session: Session): Promise<void> {
    if (session.starting) return session.starting;
    const generation = ++session.generation;
    const abort = new AbortController();
    session.abort = abort;
    const run = this.runStart(session, generation, abort.signal)
      .catch(async (error: unknown) => {
        if (session.generation !== generation || this.closed) return;
        const logFile = await this.saveFailureOutput(session, error);
        if (session.generation === generation && !this.closed)
          this.fail(
            session,
            failureReason(error, { hide: this.hidePaths, ...(logFile ? { logFile } : {}) }),
          );
      })
      .finally(() => {
        if (session.starting === run) session.starting = undefined;
      });
    session.starting = run;
    return run;
  }

  private async readDocument(session: Session): Promise<NotebookDocument> {
    if (session.path !== null) return readNotebookDocument(this.files, session.path);
    if (!session.document) throw new RuntimeError('notebook_not_found', 'No notebook document');
    return session.document;
  }

  /**
   * Runs one read-modify-write of a notebook's document after every earlier one has finished.
   * Reads and writes are asynchronous (WorkspaceFs), so two concurrent edits would otherwise both
   * read the same text and the second write would silently drop the first edit's change.
   */
  private editDocument<T>(session: Session, edit: () => Promise<T>): Promise<T> {
    const run = session.documentEdits.then(edit, edit);
    session.documentEdits = run.catch(() => undefined);
    return run;
  }

  private async writeDocument(session: Session, document: NotebookDocument): Promise<void> {
    if (session.path !== null) await this.files.writeFileAtomic(session.path, document.text);
    else session.document = document;
  }

  /** Whether a non-blank regular file is at `path` (anything else there is refused). */
  private async hasContent(path: string): Promise<boolean> {
    const big = new Error('has content');
    try {
      // Whitespace-only means empty; anything longer than a page is content without reading it.
      const bytes = await this.files.readFile(path, { maxBytes: 4096, tooLarge: () => big });
      return bytes !== null && bytes.toString('utf8').trim().length > 0;
    } catch (error) {
      if (error === big) return true;
      throw error;
    }
  }

  private notebookDir(session: Session): string {
    return session.absolute ? dirname(session.absolute) : this.options.workspaceRoot;
  }

  private resolve(session: Session, document: NotebookDocument): Promise<ResolvedEnvironment> {
    return resolveEnvironment({
      notebookPath:
        session.absolute ?? join(this.options.workspaceRoot, `.ephemeral-${session.id}.ipynb`),
      notebook: document.notebook,
      preferences: {
        defaultRuntime: session.runtime,
        preferredManager: this.options.preferredManager,
      },
      fs: this.envFs,
      // Project files are looked for up to the workspace root, never above it.
      homeDir: this.options.workspaceRoot,
      envId: document.notebook.metadata.runyard?.env_id ?? session.id,
    });
  }

  private evaluate(
    session: Session,
    document: NotebookDocument,
    resolved: ResolvedEnvironment,
  ): TrustDecision {
    session.projectDependencies = PROJECT_SOURCES.has(resolved.source) ? resolved.dependencies : [];
    const decision = this.options.trust.evaluate(document.notebook, {
      projectDependencies: session.projectDependencies,
    });
    session.trust = trustSummary(decision);
    session.nextAction =
      (buildNextAction(decision, { notebookId: session.id }) as NextAction | null) ?? undefined;
    return decision;
  }

  private async runStart(session: Session, generation: number, signal: AbortSignal): Promise<void> {
    const stale = () => session.generation !== generation || this.closed;
    session.error = undefined;
    session.nextAction = undefined;
    this.setLifecycle(session, 'resolving');
    const document = await this.readDocument(session);
    const resolved = await this.resolve(session, document);
    if (stale()) return;
    session.runtime = resolved.runtime;
    session.envSource = resolved.source;
    session.envHash = resolved.envHash;
    const decision = this.evaluate(session, document, resolved);
    if (decision.needsApproval) {
      this.setLifecycle(session, 'awaiting_trust');
      return;
    }

    const onProgress = (event: { phase: string; message: string; fraction?: number }) =>
      this.options.events.emit({
        type: 'env_progress',
        notebookId: session.id,
        phase: event.phase,
        message: event.message,
        ...(event.fraction !== undefined ? { fraction: event.fraction } : {}),
      });
    const cwd = this.notebookDir(session);
    const previous = session.env;
    session.env = undefined;
    let env: PreparedEnv | undefined;
    let kernel: KernelClient | undefined;
    try {
      if (resolved.runtime === 'deno') {
        if (previous) this.options.environments.discard(previous);
        this.setLifecycle(session, 'launching');
        this.options.environments.sandbox.assertDenoAllowed();
        kernel = await launchDenoKernel({
          cwd,
          env: this.options.env,
          runtimeDir: this.options.runtimeDir,
          signal,
        });
      } else if (poolEligible(resolved)) {
        if (previous?.exclusive) env = previous;
        else {
          if (previous) this.options.environments.discard(previous);
          const claimed = await this.options.environments.claimKernel();
          if (claimed) {
            env = claimed.env;
            kernel = claimed.client;
            // Pooled kernels start in the workspace root; move to the notebook's directory.
            await kernel.execute(`__import__('os').chdir(${JSON.stringify(cwd)})`, {
              silent: true,
              storeHistory: false,
            });
          } else {
            this.setLifecycle(session, 'preparing_env');
            env = await this.options.environments.exclusiveEnv({ signal, onProgress });
          }
        }
      } else {
        if (
          this.options.envBuilds === 'confirm' &&
          session.buildApproved !== resolved.envHash &&
          !this.options.environments.isCached(resolved)
        ) {
          session.nextAction = envBuildAction(
            session.id,
            `The environment for ${resolved.dependencies.length} dependencies is not built yet; build it with manageDependencies(notebookId, { apply: 'sync' }) (MCP manage_dependencies, or POST /api/notebooks/${segment(session.id)}/dependencies).`,
          );
          this.setLifecycle(session, 'awaiting_env_build');
          return;
        }
        if (previous) this.options.environments.discard(previous);
        this.setLifecycle(session, 'preparing_env');
        env = (
          await this.options.environments.cachedEnv(resolved, {
            notebookDir: cwd,
            signal,
            onProgress,
          })
        ).env;
      }
      if (stale()) throw new StaleStart();
      if (!kernel && env) {
        this.setLifecycle(session, 'launching');
        kernel = await this.options.environments.launch(env, { cwd, signal });
      }
      if (!kernel) throw new KernelError('kernel_exited', 'No kernel was started');
      if (stale()) throw new StaleStart();
    } catch (error) {
      if (kernel) await this.stopClient(kernel);
      if (env && stale()) this.options.environments.discard(env);
      else if (env) session.env = env;
      if (error instanceof StaleStart || stale()) return;
      throw error;
    }
    this.attach(session, kernel, env);
    this.setLifecycle(session, kernel.status === 'busy' ? 'busy' : 'idle');
  }

  private attach(session: Session, kernel: KernelClient, env: PreparedEnv | undefined): void {
    session.kernel = kernel;
    session.env = env;
    session.kernelStatus = kernel.status;
    let exit: ExitInfo | undefined;
    kernel.on('exit', (info) => {
      exit = info;
    });
    kernel.on('status', (status) => {
      if (session.kernel !== kernel) return;
      session.kernelStatus = status;
      if (status === 'dead') {
        this.onDeath(session, kernel, exit);
        return;
      }
      if (!RUNNING.has(session.lifecycle)) return;
      if (status === 'busy' || status === 'idle') this.setLifecycle(session, status);
      else this.publish(session);
    });
  }

  private onDeath(session: Session, kernel: KernelClient, exit: ExitInfo | undefined): void {
    if (this.stopped.has(kernel) || this.closed) return;
    session.kernel = undefined;
    session.kernelStatus = 'dead';
    const how = exit
      ? exit.signal
        ? `signal ${exit.signal}`
        : `exit code ${exit.code}`
      : 'no heartbeat';
    const { windowMs } = this.options.restartPolicy;
    const decision = decideRestart(
      session.restarts,
      this.options.now(),
      this.options.restartPolicy,
    );
    session.restarts = decision.restarts;
    if (!decision.restart) {
      this.fail(session, {
        reason: 'restart_limit_reached',
        details: `The kernel died (${how}) and was already restarted ${session.restarts.length} time(s) in ${Math.round(windowMs / 60_000)} minutes; it stays stopped until restarted explicitly`,
      });
      return;
    }
    this.fail(session, {
      reason: 'kernel_died',
      details: `The kernel died (${how}); restarting it`,
    });
    setImmediate(() => {
      if (session.lifecycle === 'error' && !session.starting && !this.closed)
        void this.start(session);
    });
  }

  private async stopClient(kernel: KernelClient): Promise<void> {
    this.stopped.add(kernel);
    await kernel.shutdown({ graceMs: 1000 }).catch(() => undefined);
  }

  /** Stops the kernel on purpose (no restart policy) and cancels an in-flight start. */
  private async stopKernel(session: Session): Promise<void> {
    session.generation++;
    session.abort?.abort();
    const starting = session.starting;
    const kernel = session.kernel;
    session.kernel = undefined;
    session.kernelStatus = null;
    if (kernel) await this.stopClient(kernel);
    if (starting) await starting;
  }

  // ---- operations ----------------------------------------------------------------------------

  private async runningKernel(session: Session): Promise<KernelClient> {
    if (session.starting) await session.starting;
    if (session.lifecycle === 'not_started' || session.lifecycle === 'shutdown') {
      this.admit(session);
      await this.start(session);
    }
    if (session.lifecycle === 'awaiting_trust') {
      throw new RuntimeError(
        'notebook_awaiting_trust',
        `The notebook's dependencies are not approved: ${session.trust.untrusted.map((d) => d.name).join(', ')}. Approve them with manageDependencies(notebookId, { trust: true, fingerprint: "${session.trust.fingerprint}" }) (MCP manage_dependencies, or POST /api/notebooks/${segment(session.id)}/dependencies).`,
      );
    }
    if (session.lifecycle === 'awaiting_env_build') {
      throw new RuntimeError(
        'notebook_not_ready',
        `The notebook's environment is not built yet; build it with manageDependencies(notebookId, { apply: 'sync' }) (MCP manage_dependencies, or POST /api/notebooks/${segment(session.id)}/dependencies).`,
      );
    }
    const kernel = session.kernel;
    if (!kernel || !RUNNING.has(session.lifecycle)) {
      const why = session.error ? ` (${session.error.reason})` : '';
      throw new RuntimeError(
        'notebook_not_ready',
        `The notebook's kernel is not running${why}; restart it with restart(notebookId)`,
      );
    }
    return kernel;
  }

  async execute(notebookId: string, request: ExecuteRequest): Promise<ExecuteResult> {
    this.assertOpen();
    const req = parseRequest(ExecuteRequestSchema, request);
    const session = this.session(notebookId);
    const kernel = await this.runningKernel(session);
    const emit = (output: NotebookOutput) =>
      this.options.events.emit({ type: 'output', notebookId: session.id, output });
    // Stream chunks pass one redaction stream (stdout and stderr in arrival order): a secret
    // printed across flushed writes, or half on each, is redacted before any subscriber sees
    // it. Held text goes out before any other output (keeping order) and when the run ends.
    const redactor = this.options.outputRedactor?.();
    const emitPieces = (pieces: { label: 'stdout' | 'stderr'; text: string }[]) => {
      for (const piece of pieces)
        emit({ output_type: 'stream', name: piece.label, text: piece.text });
    };
    const onOutput = (output: NotebookOutput) => {
      if (!redactor) emit(output);
      else if (output.output_type === 'stream')
        emitPieces(redactor.write(output.name, output.text));
      else {
        emitPieces(redactor.end());
        emit(output);
      }
    };
    try {
      const result = await kernel.execute(req.code, {
        ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}),
        ...(this.options.outputBudgetBytes !== undefined
          ? { outputBudgetBytes: this.options.outputBudgetBytes }
          : {}),
        onOutput,
      });
      if (redactor) emitPieces(redactor.end());
      return {
        status: result.status,
        executionCount: result.executionCount,
        outputs: result.outputs,
        ...(result.truncated ? { truncated: { ...result.truncated } } : {}),
      };
    } catch (error) {
      if (redactor) emitPieces(redactor.end());
      if (error instanceof KernelError) {
        if (error.code === 'execute_timeout')
          throw new RuntimeError(
            'execution_timeout',
            'The execution timed out; the kernel was interrupted',
            { cause: error },
          );
        if (error.code === 'kernel_dead' || error.code === 'kernel_shutdown')
          throw new RuntimeError('kernel_died', 'The kernel died during the execution', {
            cause: error,
          });
      }
      throw error;
    }
  }

  async interrupt(notebookId: string): Promise<RuntimeInfo> {
    this.assertOpen();
    const session = this.session(notebookId);
    const kernel = session.kernel;
    if (!kernel || !RUNNING.has(session.lifecycle))
      throw new RuntimeError(
        'notebook_not_ready',
        'The notebook has no running kernel to interrupt',
      );
    await kernel.interrupt();
    return this.info(session);
  }

  async restart(notebookId: string): Promise<RuntimeInfo> {
    this.assertOpen();
    const session = this.session(notebookId);
    this.admit(session);
    await this.stopKernel(session);
    session.restarts = [];
    await this.start(session);
    return this.info(session);
  }

  async shutdown(notebookId: string): Promise<RuntimeInfo> {
    this.assertOpen();
    const session = this.session(notebookId);
    await this.stopKernel(session);
    if (session.env) this.options.environments.discard(session.env);
    session.env = undefined;
    session.error = undefined;
    session.nextAction = session.trust.needsApproval ? session.nextAction : undefined;
    this.setLifecycle(session, 'shutdown');
    return this.info(session);
  }

  async manageDependencies(notebookId: string, request: unknown): Promise<RuntimeInfo> {
    this.assertOpen();
    const req = parseRequest(ManageDependenciesRequestSchema, request);
    const session = this.session(notebookId);
    if (session.starting) await session.starting;
    const editing = (req.add?.length ?? 0) > 0 || (req.remove?.length ?? 0) > 0;
    if (session.runtime === 'deno' && editing)
      throw new RuntimeError('invalid_request', 'A Deno notebook has no inline dependencies');
    if (req.trust && !req.fingerprint) {
      throw new RuntimeError(
        'invalid_request',
        'trust: true needs the fingerprint of the dependencies you approve (trust.fingerprint)',
      );
    }
    const { document, added } = await this.editDocument(session, async () => {
      let document = await this.readDocument(session);
      const resolved = await this.resolve(session, document);
      const projectDependencies = PROJECT_SOURCES.has(resolved.source) ? resolved.dependencies : [];
      const sign = (doc: NotebookDocument, fingerprint: string): Promise<NotebookDocument> => {
        const { notebook } = this.options.trust.approve({
          notebook: doc.notebook,
          fingerprint,
          actor: this.options.actor,
          notebookPath: session.path,
          projectDependencies,
        });
        return parseDocumentAsync(
          setNotebookMetadata(doc.text, 'runyard', notebook.metadata.runyard),
        );
      };
      let changed = false;
      // The fingerprint names what the caller saw before this call's own edits.
      if (req.trust && req.fingerprint) {
        document = await sign(document, req.fingerprint);
        changed = true;
      }
      let added: string[] = [];
      if (editing) {
        // Written where the notebook declares its dependencies (runt, top level, PEP 723 block).
        const edit = editDependencies(document, this.options.preferredManager, {
          ...(req.add ? { add: req.add } : {}),
          ...(req.remove ? { remove: req.remove } : {}),
        });
        if (edit) {
          document = await parseDocumentAsync(edit.text);
          added = edit.added;
          changed = true;
          if (req.trust) {
            // Approving and naming packages in one call is consent for the packages named too.
            const current = this.options.trust.evaluate(document.notebook, { projectDependencies });
            document = await sign(document, current.fingerprint);
          }
        }
      }
      if (changed) await this.writeDocument(session, document);
      return { document, added };
    });
    const resolved = await this.resolve(session, document);
    const decision = this.evaluate(session, document, resolved);
    const apply = req.apply ?? 'none';

    if (decision.needsApproval) {
      this.publish(session);
      return this.info(session);
    }
    if (session.lifecycle === 'awaiting_trust') {
      this.admit(session);
      await this.start(session);
      return this.info(session);
    }
    if (session.lifecycle === 'awaiting_env_build') {
      // apply 'sync' or 'restart' is the caller's consent to build this env; 'none' leaves it.
      if (apply !== 'none') {
        session.buildApproved = resolved.envHash ?? undefined;
        this.admit(session);
        await this.start(session);
      } else this.publish(session);
      return this.info(session);
    }
    const running = session.kernel !== undefined && RUNNING.has(session.lifecycle);
    if (apply === 'restart' || (apply === 'sync' && !running)) {
      await this.restart(session.id);
    } else if (apply === 'sync' && added.length > 0) {
      const env = session.env;
      if (env?.exclusive) {
        // The env is this notebook's alone: install in place, the kernel keeps its state.
        this.options.events.emit({
          type: 'env_progress',
          notebookId: session.id,
          phase: 'install',
          message: `Installing ${added.length} package(s)`,
        });
        await this.options.environments.install(env, added);
        session.envSource = resolved.source;
        session.envHash = resolved.envHash;
        this.options.events.emit({
          type: 'env_progress',
          notebookId: session.id,
          phase: 'done',
          message: 'Packages installed',
          fraction: 1,
        });
      } else {
        // A cached env is shared by every notebook with the same dependencies and must keep
        // matching its hash: move to the env of the new dependency set instead.
        await this.restart(session.id);
      }
    }
    this.publish(session);
    return this.info(session);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.sessions.values()].map(async (session) => {
        session.generation++;
        session.abort?.abort();
        const kernel = session.kernel;
        session.kernel = undefined;
        if (kernel) await this.stopClient(kernel);
        await session.starting?.catch(() => undefined);
        if (session.env) this.options.environments.discard(session.env);
      }),
    );
  }

  /** Lifecycle of a notebook, for kernel workers. */
  lifecycleOf(
    notebookId: string,
  ): { lifecycle: Lifecycle; error?: { reason: string } } | undefined {
    const session = this.sessions.get(notebookId);
    if (!session) return undefined;
    return { lifecycle: session.lifecycle, ...(session.error ? { error: session.error } : {}) };
  }

  isInFlight(lifecycle: Lifecycle): boolean {
    return IN_FLIGHT.has(lifecycle);
  }
}

class StaleStart extends Error {}

/** A Python env with nothing declared is exactly what the warm pools hold. */
function poolEligible(resolved: ResolvedEnvironment): boolean {
  return (
    resolved.runtime === 'python' &&
    resolved.dependencies.length === 0 &&
    (resolved.source === 'uv:prewarmed' ||
      resolved.source === 'uv:inline' ||
      resolved.source === 'uv:pep723')
  );
}
