/** Hard limits. A bundle is configuration, not data: anything bigger is a mistake or an attack. */
export const BundleLimits = {
  /** Bytes of the bundle as JSON (raw text for `parseBundleJson`, canonical form otherwise). */
  maxBytes: 1024 * 1024,
  maxProfiles: 256,
  maxDeclarations: 1024,
  /** Objects/arrays nested deeper than this are refused before anything recurses into them. */
  maxDepth: 32,
  maxIdLength: 128,
  maxNameLength: 128,
  maxReferenceLength: 256,
  maxTextLength: 4096,
  maxArgv: 256,
  maxGrants: 1024,
} as const;
