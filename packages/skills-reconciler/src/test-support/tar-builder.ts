// A tiny ustar writer for tests: it writes exactly the entries given, including hostile ones
// (`..`, absolute paths, links, devices) that a well-behaved archiver would refuse to create.
import { gzipSync } from 'node:zlib';

export interface RawEntry {
  path: string;
  /** ustar type flag: '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' dir, '6' fifo. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  content?: string | Buffer;
  linkpath?: string;
  mode?: number;
  /** Declared size when it should differ from the content (lying headers). */
  size?: number;
}

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(entry: RawEntry, size: number): Buffer {
  const block = Buffer.alloc(512, 0);
  const type = entry.type ?? '0';
  block.write(entry.path, 0, 100, 'utf8');
  block.write(octal(entry.mode ?? (type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(1_700_000_000, 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write(type, 156, 'ascii');
  if (entry.linkpath) block.write(entry.linkpath, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

export function buildTar(entries: RawEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body =
      entry.type === undefined || entry.type === '0'
        ? Buffer.isBuffer(entry.content)
          ? entry.content
          : Buffer.from(entry.content ?? '', 'utf8')
        : Buffer.alloc(0);
    parts.push(header(entry, entry.size ?? body.byteLength));
    parts.push(body);
    const pad = (512 - (body.byteLength % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

export function buildTarGz(entries: RawEntry[]): Buffer {
  return gzipSync(buildTar(entries));
}

export function skillMd(name: string, description = `The ${name} skill.`, extra = ''): string {
  return `---\nname: ${name}\ndescription: ${description}\n${extra}---\n\n# ${name}\n\nUse it well.\n`;
}

/** A gzipped skill archive; `wrap` puts everything under one top-level folder like GitHub does. */
export function skillArchive(
  name: string,
  options: {
    version?: string;
    wrap?: string;
    files?: Record<string, string>;
    extraFrontmatter?: string;
  } = {},
): Buffer {
  const prefix = options.wrap ? `${options.wrap}/` : '';
  const entries: RawEntry[] = [];
  if (options.wrap) entries.push({ path: `${options.wrap}/`, type: '5' });
  entries.push({
    path: `${prefix}SKILL.md`,
    content: skillMd(
      name,
      `The ${name} skill, ${options.version ?? 'v1'}.`,
      options.extraFrontmatter ?? '',
    ),
  });
  for (const [path, content] of Object.entries(options.files ?? {})) {
    entries.push({ path: `${prefix}${path}`, content });
  }
  return buildTarGz(entries);
}
