// What a person needs from a failed tool's output: the few lines that say why (pip's
// `ERROR: No matching distribution found for requests>=2`, Python's last traceback line), not
// the fifty around them. Pure functions; the runtime decides where the full log goes.

/** Lines that explain a failure, in the wording of pip, uv, conda, Python and shells. */
const DECISIVE =
  /(^|\b)(error|fatal|critical)\b|exception|traceback|no module named|no matching distribution|not found|permission denied|could not|cannot|unable to|failed/i;
/** Lines that look like errors but never explain one. */
const NOISE = /^\s*\[notice\]|^\s*(warning|hint):|^\s*note:|to update, run:/i;
const MAX_LINE_CHARS = 300;

/**
 * Up to `max` lines of `output` that say why it failed: the last lines that read like an error
 * (in their original order), else the last non-empty line. Each is trimmed and capped.
 */
export function decisiveLines(output: readonly string[], max = 3): string[] {
  const lines = output.map((line) => line.trim()).filter((line) => line !== '');
  const picked: string[] = [];
  for (let i = lines.length - 1; i >= 0 && picked.length < max; i--) {
    const line = lines[i] as string;
    if (DECISIVE.test(line) && !NOISE.test(line) && !picked.includes(line)) picked.unshift(line);
  }
  if (picked.length === 0) {
    const last = [...lines].reverse().find((line) => !NOISE.test(line));
    if (last !== undefined) picked.push(last);
  }
  return picked.map((line) =>
    line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}…` : line,
  );
}

/**
 * `text` with host paths replaced: each known root by its label (`<workspace>`, `<cache>`), and
 * any other absolute path by `<path>`. URLs (`https://host/simple/x`) are left alone.
 */
export function hideHostPaths(
  text: string,
  roots: readonly { path: string; label: string }[] = [],
): string {
  let out = text;
  // Longest first, so a root inside another (the cache dir under the home) keeps its own label.
  for (const root of [...roots].sort((a, b) => b.path.length - a.path.length)) {
    if (root.path.length > 1) out = out.split(root.path).join(root.label);
  }
  return out.replace(/(^|[\s'"(=,[])\/(?!\/)[^\s'"),\]]*/g, '$1<path>');
}
