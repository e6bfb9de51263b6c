import { randomBytes } from 'node:crypto';
import { chmodSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import type { ResolvedEnvironment } from '@runyard/env-detection';
import { openDatabase } from '@runyard/sqlite';
import { createTrustService, loadOrCreateTrustKey, type TrustDecision } from '@runyard/trust';
import { openTrustStore } from '@runyard/trust/sqlite';
import type { ServeConfig } from '../config.js';
import {
  type CliIo,
  ExitCode,
  parseCommand,
  printHelp,
  printJson,
  println,
  UsageError,
} from './common.js';
import { resolveNotebook } from './detect.js';

export const TRUST_HELP = `Usage: runyard trust status <notebook> [--json]   exit 3 when approval is needed
       runyard trust approve <notebook> [--json]  allowlist its dependencies and sign it
       runyard trust packages [--json]            the package allowlist

Uses the same allowlist (<data-dir>/runyard.db) and trust key (<config-dir>/trust-key) as the
server.`;

const PROJECT_SOURCES = new Set(['uv:pyproject', 'pixi:toml', 'conda:env_yml']);

function projectDependencies(resolved: ResolvedEnvironment) {
  return PROJECT_SOURCES.has(resolved.source) ? resolved.dependencies : [];
}

export function trustSummary(decision: TrustDecision) {
  return {
    status: decision.status,
    needsApproval: decision.needsApproval,
    untrusted: decision.untrusted.map(({ ecosystem, name, spec }) => ({ ecosystem, name, spec })),
    warnings: decision.warnings,
    fingerprint: decision.fingerprint,
  };
}

async function openTrust(config: ServeConfig) {
  const db = openDatabase(join(config.dataDir, 'runyard.db'));
  try {
    const store = openTrustStore({ db });
    const key = await loadOrCreateTrustKey({ configDir: config.configDir });
    return { store, service: createTrustService({ store, key }), close: () => db.close() };
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Writes beside the original and renames over it, keeping its mode. */
function writeAtomic(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const mode = statSync(path).mode & 0o777;
  writeFileSync(temp, text, { flag: 'wx', mode });
  try {
    chmodSync(temp, mode);
    renameSync(temp, path);
  } catch (error) {
    unlinkSync(temp);
    throw error;
  }
}

export async function trustCommand(io: CliIo, args: string[]): Promise<number> {
  const { values, positionals, config } = parseCommand(io, args, { json: { type: 'boolean' } });
  const [sub, file, ...extra] = positionals;
  if (values.help || sub === undefined) return printHelp(io, TRUST_HELP, Boolean(values.help));
  const settings = config();
  if (sub === 'packages') {
    if (file !== undefined) throw new UsageError('trust packages takes no arguments');
    const trust = await openTrust(settings);
    try {
      const packages = trust.store.listTrusted();
      if (values.json) printJson(io, { packages });
      else
        for (const pkg of packages)
          println(
            io.stdout,
            `${pkg.ecosystem.padEnd(6)} ${pkg.name.padEnd(32)} ${pkg.source} ${pkg.approvedAt}`,
          );
    } finally {
      trust.close();
    }
    return ExitCode.ok;
  }
  if (sub !== 'status' && sub !== 'approve') throw new UsageError(`unknown trust command: ${sub}`);
  if (!file || extra.length > 0) throw new UsageError(`trust ${sub} takes exactly one notebook`);
  const { path, notebook, resolved } = await resolveNotebook(io, file);
  const trust = await openTrust(settings);
  try {
    const project = projectDependencies(resolved);
    const decision = trust.service.evaluate(notebook, { projectDependencies: project });
    if (sub === 'status') {
      const summary = trustSummary(decision);
      if (values.json) printJson(io, summary);
      else {
        println(
          io.stdout,
          `trust: ${summary.status}${summary.needsApproval ? ' (approval needed)' : ''}`,
        );
        for (const dep of summary.untrusted)
          println(io.stdout, `  not approved: ${dep.spec} [${dep.ecosystem}]`);
        for (const warning of summary.warnings) println(io.stdout, `  warning: ${warning.message}`);
        if (summary.needsApproval)
          println(io.stdout, `approve with: runyard trust approve ${file}`);
      }
      return summary.needsApproval ? ExitCode.blockedOnTrust : ExitCode.ok;
    }
    const shown = relative(settings.workspace, path);
    const result = trust.service.approve({
      notebook,
      fingerprint: decision.fingerprint,
      actor: `cli:${io.env.USER ?? 'user'}`.slice(0, 256),
      notebookPath: shown.startsWith('..') ? basename(path) : shown,
      projectDependencies: project,
    });
    writeAtomic(path, `${JSON.stringify(result.notebook, null, 1)}\n`);
    const summary = trustSummary(result.decision);
    if (values.json) printJson(io, { ...summary, changes: result.changes });
    else {
      const added = result.changes.filter((change) => change.effect === 'added');
      println(io.stdout, `approved and signed; ${added.length} package(s) added to the allowlist`);
      for (const change of added) println(io.stdout, `  + ${change.name} [${change.ecosystem}]`);
    }
    return summary.needsApproval ? ExitCode.blockedOnTrust : ExitCode.ok;
  } finally {
    trust.close();
  }
}
