import { z } from 'zod';

export const EnvWarningCodeSchema = z.enum([
  /** The notebook declares both uv and conda dependencies; the preferred manager was used. */
  'inline_manager_conflict',
  /** A Deno notebook carries Python dependency metadata, which a Deno kernel cannot use. */
  'inline_dependencies_ignored',
  /** A project-file entry Runyard cannot express as a dependency (path deps, pip options). */
  'dependency_skipped',
  /** `metadata.runt.<manager>` and the top-level `metadata.<manager>` both exist; runt won. */
  'legacy_metadata_ignored',
  /** A PEP 723 block exists but the notebook's metadata declares dependencies, which win. */
  'pep723_ignored',
]);
export type EnvWarningCode = z.infer<typeof EnvWarningCodeSchema>;

export const EnvWarningSchema = z.object({ code: EnvWarningCodeSchema, message: z.string() });
export type EnvWarning = z.infer<typeof EnvWarningSchema>;
