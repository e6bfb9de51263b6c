import { z } from 'zod';
import { DECLARATION_KINDS, isValidReference } from './declarations.js';
import { BundleLimits } from './limits.js';

// Ids and selector values end up in URL path segments and SQL keys: a closed alphabet that has
// no `/ ? & # %`, no whitespace and no `..` needs no escaping anywhere.
const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
// In `u` mode a paired surrogate is one code point, so this matches lone surrogates only; RFC
// 8785 cannot canonicalize those.
const LONE_SURROGATE = /\p{Surrogate}/u;

export function isValidIdentifier(value: string, maxLength: number = BundleLimits.maxIdLength) {
  return (
    value.length >= 1 &&
    value.length <= maxLength &&
    IDENTIFIER.test(value) &&
    !value.includes('..')
  );
}

const identifier = (what: string) =>
  z.string().refine((value) => isValidIdentifier(value), {
    message: `${what} must be 1-${BundleLimits.maxIdLength} characters of [A-Za-z0-9._:-], start with a letter or digit and contain no '..'`,
  });

const text = (maxLength: number = BundleLimits.maxTextLength) =>
  z
    .string()
    .max(maxLength)
    .refine((value) => !CONTROL_CHARS.test(value) && !LONE_SURROGATE.test(value), {
      message: 'must not contain control characters or lone surrogates',
    });

/** RFC 3339 date-time with seconds and an explicit offset (`Z` or `±hh:mm`), upper-case `T`/`Z`. */
const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

export function isRfc3339(value: string): boolean {
  const match = RFC3339.exec(value);
  if (!match) return false;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day <= daysInMonth;
}

/** A relative path that stays inside whatever directory the host chooses as the root. */
export function isSafeRelativePath(value: string): boolean {
  if (value.length === 0 || value.length > 1024) return false;
  if (CONTROL_CHARS.test(value) || value.includes('\\')) return false;
  if (value.startsWith('/') || value.startsWith('~') || /^[A-Za-z]:/.test(value)) return false;
  return value.split('/').every((segment) => segment !== '..');
}

export const BundleId = identifier('bundle id');
export type BundleId = z.infer<typeof BundleId>;

export const BundleDigest = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { message: 'digest must be 64 lowercase hex characters' });
export type BundleDigest = z.infer<typeof BundleDigest>;

/** Points at one exact bundle: the id names it, the digest pins its content. */
export const ConfigBundleRef = z.strictObject({ id: BundleId, digest: BundleDigest });
export type ConfigBundleRef = z.infer<typeof ConfigBundleRef>;

export const ProfileSelector = z.strictObject({
  kind: z.enum(['builtin', 'named']),
  value: identifier('profile selector value'),
});
export type ProfileSelector = z.infer<typeof ProfileSelector>;

export const DeclarationName = identifier('declaration name');

export const ConfigDeclaration = z
  .strictObject({
    kind: z.enum(DECLARATION_KINDS),
    name: DeclarationName,
    reference: z.string().max(BundleLimits.maxReferenceLength),
  })
  .refine((declaration) => isValidReference(declaration.kind, declaration.reference), {
    message: 'reference prefix is not accepted for this declaration kind',
    path: ['reference'],
  });
export type ConfigDeclaration = z.infer<typeof ConfigDeclaration>;

export const KernelWorker = z.strictObject({
  kind: z.literal('kernel'),
  runtime: z.enum(['python', 'deno']),
});

export const CommandWorker = z.strictObject({
  kind: z.literal('command'),
  argv: z.array(text()).min(1).max(BundleLimits.maxArgv),
  cwd: z
    .string()
    .refine(isSafeRelativePath, { message: 'cwd must be a relative path without ".." segments' })
    .optional(),
});

export const WorkerDefinition = z.discriminatedUnion('kind', [KernelWorker, CommandWorker]);
export type WorkerDefinition = z.infer<typeof WorkerDefinition>;

export const BundleProfile = z.strictObject({
  selector: ProfileSelector,
  label: text(256).optional(),
  worker: WorkerDefinition,
  grants: z.array(DeclarationName).max(BundleLimits.maxGrants),
});
export type BundleProfile = z.infer<typeof BundleProfile>;

export const BundleProvenance = z.strictObject({
  source: text(128).pipe(z.string().min(1)),
  detail: text().optional(),
});
export type BundleProvenance = z.infer<typeof BundleProvenance>;

const metadataShape = {
  id: BundleId,
  revision: z.int().min(0),
  workspaceId: identifier('workspace id'),
  createdAt: z.string().refine(isRfc3339, {
    message: 'createdAt must be an RFC 3339 date-time with seconds and an offset',
  }),
  provenance: BundleProvenance,
};

export const BundleMetadata = z.strictObject({ ...metadataShape, digest: BundleDigest });
export type BundleMetadata = z.infer<typeof BundleMetadata>;

const bundleShape = {
  profiles: z.array(BundleProfile).max(BundleLimits.maxProfiles),
  declarations: z.array(ConfigDeclaration).max(BundleLimits.maxDeclarations),
};

/**
 * The shape of a bundle. `validateBundle` applies this plus the rules a schema cannot express
 * (forbidden content, duplicates, grants, the digest) and maps each failure to its own code.
 */
export const ConfigBundle = z.strictObject({ metadata: BundleMetadata, ...bundleShape });
export type ConfigBundle = z.infer<typeof ConfigBundle>;

/** A bundle before its digest is known (what a producer writes and `sealBundle` completes). */
export const UnsealedConfigBundle = z.strictObject({
  metadata: z.strictObject({ ...metadataShape, digest: BundleDigest.optional() }),
  ...bundleShape,
});
export type UnsealedConfigBundle = z.infer<typeof UnsealedConfigBundle>;

export const CreateWorkerRequest = z.strictObject({
  workerId: identifier('worker id').optional(),
  profile: ProfileSelector,
  configBundle: ConfigBundleRef.optional(),
  requestedCapabilities: z
    .array(z.string().min(1).max(BundleLimits.maxReferenceLength))
    .max(BundleLimits.maxGrants)
    .optional(),
});
export type CreateWorkerRequest = z.infer<typeof CreateWorkerRequest>;

export const GrantedReference = z.strictObject({
  name: DeclarationName,
  reference: z.string(),
});
export type GrantedReference = z.infer<typeof GrantedReference>;

export const ResolvedGrants = z.strictObject({
  secrets: z.array(GrantedReference),
  mounts: z.array(GrantedReference),
  network: z.array(GrantedReference),
  shell: z.array(GrantedReference),
  git: z.array(GrantedReference),
  capabilities: z.array(GrantedReference),
});
export type ResolvedGrants = z.infer<typeof ResolvedGrants>;

/** What a runtime host needs to launch a worker: references only, never resolved values. */
export const ResolvedWorkerSpec = z.strictObject({
  mode: z.enum(['builtin', 'bundle']),
  workerId: z.string().optional(),
  profile: ProfileSelector,
  label: z.string().optional(),
  worker: WorkerDefinition,
  configBundle: ConfigBundleRef.optional(),
  grants: ResolvedGrants,
});
export type ResolvedWorkerSpec = z.infer<typeof ResolvedWorkerSpec>;
