import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createReconciler,
  type InventoryRecord,
  type InventoryStore,
  parseSkill,
  type Reconciler,
  resolvePolicy,
} from '@runyard/skills-reconciler';
import type { Logger } from 'pino';
import { WorkspaceError } from './errors.js';

export interface SkillsServiceOptions {
  manifests: readonly string[];
  /** Configured policy; `RUNYARD_SKILLS_POLICY` in `env` overrides it (read on every call). */
  policy: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
  userSkillsRoot: string;
  workspaceDir: string;
  inventory: InventoryStore;
  token?: string | undefined;
  logger: Logger;
}

export interface SkillEntry {
  name: string;
  scope: 'user' | 'project';
  description: string | null;
  /** Installed and owned by the reconciler (listed in its inventory). */
  managed: boolean;
  /** The folder has no readable SKILL.md with valid frontmatter. */
  invalid?: true;
}

export interface SkillsService {
  readonly reconciler: Reconciler;
  readonly configured: boolean;
  /** Throws `skills_policy_force_off` (403) under force-off; the reconciler's own error when the policy is invalid. */
  assertPolicyAllows(): void;
  inventory(): { managed: InventoryRecord[]; skills: SkillEntry[] };
  start(): Promise<void>;
  close(): Promise<void>;
}

const MAX_LISTED_SKILLS = 1000;

function listSkillFolders(root: string, scope: 'user' | 'project', managed: Set<string>) {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const entries: SkillEntry[] = [];
  for (const name of names.sort().slice(0, MAX_LISTED_SKILLS)) {
    if (name.startsWith('.')) continue;
    const dir = join(root, name);
    try {
      // A symlinked folder could point anywhere on the host: listed by name, never read.
      if (!lstatSync(dir).isDirectory()) continue;
    } catch {
      continue;
    }
    const isManaged = managed.has(`${scope}:${name}`);
    try {
      const file = join(dir, 'SKILL.md');
      if (!lstatSync(file).isFile()) throw new Error('not a file');
      const parsed = parseSkill(readFileSync(file, 'utf8'), name);
      entries.push({
        name,
        scope,
        description: parsed.frontmatter.description ?? null,
        managed: isManaged,
      });
    } catch {
      entries.push({ name, scope, description: null, managed: isManaged, invalid: true });
    }
  }
  return entries;
}

export function createSkillsService(options: SkillsServiceOptions): SkillsService {
  const log = options.logger.child({ component: 'skills' });
  const reconciler = createReconciler({
    manifests: options.manifests,
    userSkillsRoot: options.userSkillsRoot,
    workspaceDir: options.workspaceDir,
    inventory: options.inventory,
    ...(options.token ? { token: options.token } : {}),
    ...(options.policy !== undefined ? { policy: options.policy } : {}),
    env: options.env,
    logger: {
      info: (message, data) => log.info(data ?? {}, message),
      warn: (message, data) => log.warn(data ?? {}, message),
      error: (message, data) => log.error(data ?? {}, message),
    },
  });
  const projectRoot = join(options.workspaceDir, '.claude', 'skills');
  return {
    reconciler,
    configured: options.manifests.length > 0,
    assertPolicyAllows() {
      const resolved = resolvePolicy(options.env, options.policy);
      if (!resolved.ok) throw resolved.error;
      if (resolved.policy === 'force-off') {
        throw new WorkspaceError(
          'skills_policy_force_off',
          'the skills policy is force-off: managed skills are not reconciled',
        );
      }
    },
    inventory() {
      const managed = reconciler.status().inventory;
      const owned = new Set(managed.map((record) => `${record.scope}:${record.name}`));
      return {
        managed,
        skills: [
          ...listSkillFolders(options.userSkillsRoot, 'user', owned),
          ...listSkillFolders(projectRoot, 'project', owned),
        ],
      };
    },
    async start() {
      if (options.manifests.length === 0) return;
      const resolved = resolvePolicy(options.env, options.policy);
      if (resolved.ok && resolved.policy === 'force-off') return;
      // The first pass runs in the background; its result is reported through events.
      reconciler
        .start()
        .catch((error: Error) =>
          log.error({ code: (error as { code?: string }).code }, error.message),
        );
    },
    async close() {
      await reconciler.stop();
    },
  };
}
