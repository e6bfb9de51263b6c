import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian's interpreter: has ipykernel, venv and pip (never rely on PATH luck). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

export function tempRoot(label: string): string {
  return mkdtempSync(join(tmpdir(), `runyard-kernels-${label}-`));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/**
 * Live (non-zombie) processes whose command line mentions `text`. Every kernel a suite starts
 * gets a connection file under the suite's temp root, so this finds exactly the suite's kernels.
 */
export function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(text)) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

/** A venv that cannot import ipykernel (no system site packages, no pip). */
export function bareVenv(dir: string): string {
  execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--without-pip', dir]);
  return join(dir, 'bin', 'python');
}

/** Writes a minimal pure-Python wheel (zip + dist-info + RECORD) by hand: no index, no build tools. */
export function buildTinyWheel(dir: string, name = 'tinypkg', version = '0.1.0'): string {
  const script = `
import base64, hashlib, sys, zipfile
out, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": "VALUE = 42\\n\\ndef main():\\n    print(VALUE)\\n",
    f"{info}/entry_points.txt": f"[console_scripts]\\n{name} = {name}:main\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: runyard-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
with zipfile.ZipFile(out, "w") as z:
    for path, text in files.items():
        z.writestr(path, text)
`;
  const file = join(dir, `${name}-${version}-py3-none-any.whl`);
  execFileSync(SYSTEM_PYTHON, ['-c', script, file, name, version]);
  return file;
}
