import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeDigest {
  /** `sha256:<hex>` over paths, kinds, executable bits and file contents. */
  digest: string;
  bytes: number;
  entries: number;
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * Digest of a skill folder's content, independent of mtimes, owners and readdir order.
 * Used to tell a local edit (drift) from the installed content.
 */
export async function digestTree(root: string): Promise<TreeDigest> {
  const lines: string[] = [];
  let bytes = 0;
  async function walk(dir: string, rel: string): Promise<void> {
    const names = (await readdir(dir)).sort(compare);
    for (const name of names) {
      const abs = join(dir, name);
      const path = rel ? `${rel}/${name}` : name;
      const info = await lstat(abs);
      if (info.isDirectory()) {
        lines.push(`D ${path}`);
        await walk(abs, path);
      } else if (info.isFile()) {
        const content = await readFile(abs);
        bytes += content.byteLength;
        const exec = (info.mode & 0o111) !== 0 ? 'x' : '-';
        lines.push(`F ${path} ${exec} ${createHash('sha256').update(content).digest('hex')}`);
      } else if (info.isSymbolicLink()) {
        lines.push(`L ${path} ${await readlink(abs)}`);
      } else {
        lines.push(`O ${path}`);
      }
    }
  }
  await walk(root, '');
  const digest = createHash('sha256').update(lines.join('\n')).digest('hex');
  return { digest: `sha256:${digest}`, bytes, entries: lines.length };
}

/** The digest, or undefined when the folder does not exist. */
export async function digestTreeIfExists(root: string): Promise<string | undefined> {
  try {
    const info = await lstat(root);
    if (!info.isDirectory()) return `other:${info.isSymbolicLink() ? 'symlink' : 'file'}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return (await digestTree(root)).digest;
}
