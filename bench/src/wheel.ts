import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Writes a minimal pure-Python wheel (zip + dist-info + RECORD) by hand: no index, no build tools. */
export function buildTinyWheel(
  python: string,
  dir: string,
  name = 'tinypkg',
  version = '0.1.0',
): string {
  const script = `
import base64, hashlib, sys, zipfile
out, name, version = sys.argv[1], sys.argv[2], sys.argv[3]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": "VALUE = 42\\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: runyard-bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
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
  execFileSync(python, ['-c', script, file, name, version]);
  return file;
}
