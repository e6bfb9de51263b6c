/**
 * Declaration kinds and the only reference prefixes each accepts. A reference names something
 * the runtime host resolves with its own policy; it never carries the thing itself.
 */
export const DECLARATION_PREFIXES = {
  secret_ref: ['secret:', 'secret-ref:', 'vault:', 'keyring:'],
  mount_grant: ['mount:', 'mount-grant:'],
  network_policy: ['network:', 'network-policy:'],
  shell_policy: ['shell:', 'shell-policy:'],
  git_policy: ['git:', 'git-policy:'],
  capability_grant: ['capability:', 'capability-grant:'],
} as const satisfies Record<string, readonly string[]>;

export type DeclarationKind = keyof typeof DECLARATION_PREFIXES;

export const DECLARATION_KINDS = Object.keys(DECLARATION_PREFIXES) as [
  DeclarationKind,
  ...DeclarationKind[],
];

/** What may follow the prefix: a non-empty token, no slashes, spaces or `=`. */
export const REFERENCE_TOKEN = /^[A-Za-z0-9:_.@+-]+$/;

export function isDeclarationKind(kind: unknown): kind is DeclarationKind {
  return typeof kind === 'string' && Object.hasOwn(DECLARATION_PREFIXES, kind);
}

/** Splits a reference into its accepted prefix and token, or `undefined` when it is not valid. */
export function parseReference(
  kind: DeclarationKind,
  reference: string,
): { prefix: string; token: string } | undefined {
  // Longest prefix first so `secret-ref:` is never read as `secret:` + `-ref:...`; neither is
  // a prefix of the other today, but the rule must not depend on that.
  const prefixes = [...DECLARATION_PREFIXES[kind]].sort((a, b) => b.length - a.length);
  for (const prefix of prefixes) {
    if (!reference.startsWith(prefix)) continue;
    const token = reference.slice(prefix.length);
    return REFERENCE_TOKEN.test(token) ? { prefix, token } : undefined;
  }
  return undefined;
}

export function isValidReference(kind: DeclarationKind, reference: string): boolean {
  return parseReference(kind, reference) !== undefined;
}
