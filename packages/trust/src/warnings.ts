import type { Ecosystem } from '@runyard/env-detection';
import type { DependencyOrigin, NotebookDependency } from './dependencies.js';

export type TrustWarning =
  | {
      kind: 'possible_typosquat';
      ecosystem: Ecosystem;
      name: string;
      similarTo: string;
      message: string;
    }
  | {
      kind: 'direct_reference';
      ecosystem: Ecosystem;
      name: string;
      origin: Exclude<DependencyOrigin, 'index'>;
      message: string;
    }
  | {
      kind: 'ecosystem_name_mismatch';
      pypi: string;
      conda: string;
      message: string;
    };

/**
 * Widely used names typosquatters imitate, beyond whatever the allowlist holds. Normalised
 * (PEP 503 form, which is also the conda form for these).
 */
export const WELL_KNOWN_PACKAGES: readonly string[] = Object.freeze([
  'aiohttp',
  'altair',
  'anyio',
  'anywidget',
  'attrs',
  'beautifulsoup4',
  'black',
  'bokeh',
  'boto3',
  'botocore',
  'certifi',
  'cffi',
  'charset-normalizer',
  'click',
  'colorama',
  'cryptography',
  'cython',
  'dask',
  'django',
  'fastapi',
  'flask',
  'fsspec',
  'httpx',
  'idna',
  'ipykernel',
  'ipython',
  'ipywidgets',
  'jinja2',
  'joblib',
  'jsonschema',
  'jupyter',
  'jupyterlab',
  'keras',
  'lightgbm',
  'lxml',
  'markupsafe',
  'matplotlib',
  'mypy',
  'nbformat',
  'networkx',
  'nltk',
  'numba',
  'numpy',
  'openai',
  'opencv-python',
  'packaging',
  'pandas',
  'paramiko',
  'pillow',
  'pip',
  'plotly',
  'polars',
  'protobuf',
  'psutil',
  'psycopg2',
  'pyarrow',
  'pydantic',
  'pygments',
  'pyjwt',
  'pytest',
  'python-dateutil',
  'pytorch',
  'pytz',
  'pyyaml',
  'requests',
  'rich',
  'scikit-image',
  'scikit-learn',
  'scipy',
  'seaborn',
  'setuptools',
  'six',
  'sqlalchemy',
  'statsmodels',
  'sympy',
  'tensorflow',
  'torch',
  'torchvision',
  'tqdm',
  'transformers',
  'typing-extensions',
  'urllib3',
  'uvicorn',
  'wheel',
  'xarray',
  'xgboost',
]);

/**
 * Well-known packages whose conda name differs from the PyPI name beyond case and separators.
 * Keyed by PEP 503 PyPI name.
 */
const CONDA_NAMES: Readonly<Record<string, readonly string[]>> = {
  torch: ['pytorch'],
  'opencv-python': ['opencv', 'py-opencv'],
  'opencv-python-headless': ['opencv', 'py-opencv'],
  tables: ['pytables'],
  msgpack: ['msgpack-python'],
  'python-graphviz': ['graphviz'],
  'tensorflow-cpu': ['tensorflow'],
};

/**
 * Optimal string alignment distance (a transposition counts as one edit, so `reqeusts` is one
 * edit from `requests`), giving up as soon as it must exceed `max`.
 */
export function editDistance(a: string, b: string, max = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let prevPrev: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (prevPrev[j - 2] ?? 0) + 1);
      }
      row.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > max) return max + 1;
    prevPrev = prev;
    prev = row;
  }
  return prev[b.length] ?? max + 1;
}

/**
 * How far a name may be from a known one and still look like an imitation. Edit distance 2
 * as the issue asks, but short names are so close to each other that every three-letter
 * package would look like a typo of `six` or `pip`: 1 edit below five characters, none below
 * three.
 */
function allowedDistance(length: number): number {
  if (length < 3) return 0;
  if (length < 5) return 1;
  return 2;
}

/** Compares names with separators dropped, so `scikit_learn` vs `scikitlearn` is one family. */
function squash(name: string): string {
  return name.replace(/[-_.]+/g, '');
}

export interface WarningInput {
  dependencies: readonly NotebookDependency[];
  /** Names that are approved in some ecosystem, or otherwise known-good. */
  knownNames: ReadonlySet<string>;
  /** Whether a dependency is on the allowlist in its ecosystem. */
  isAllowlisted: (dependency: NotebookDependency) => boolean;
}

export function findTyposquat(name: string, knownNames: Iterable<string>): string | undefined {
  const max = allowedDistance(name.length);
  if (max === 0) return undefined;
  let best: { name: string; distance: number } | undefined;
  for (const known of knownNames) {
    if (known === name) continue;
    const distance = editDistance(name, known, max);
    if (distance <= max && distance <= allowedDistance(known.length)) {
      if (!best || distance < best.distance || (distance === best.distance && known < best.name)) {
        best = { name: known, distance };
      }
    }
  }
  return best?.name;
}

/**
 * Warnings for a human or agent deciding whether to approve. They never make a notebook
 * runnable or blocked on their own.
 */
export function collectWarnings(input: WarningInput): TrustWarning[] {
  const warnings: TrustWarning[] = [];
  const seen = new Set<string>();
  for (const dep of input.dependencies) {
    const key = `${dep.ecosystem}:${dep.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A name the user already approved is their decision; flagging it again is prompt fatigue.
    if (!input.isAllowlisted(dep) && !input.knownNames.has(dep.name)) {
      const similarTo = findTyposquat(dep.name, input.knownNames);
      if (similarTo !== undefined) {
        warnings.push({
          kind: 'possible_typosquat',
          ecosystem: dep.ecosystem,
          name: dep.name,
          similarTo,
          message: `${dep.ecosystem} package "${dep.name}" looks like a misspelling of "${similarTo}"`,
        });
      }
    }
  }
  for (const dep of input.dependencies) {
    if (dep.origin !== 'index') {
      warnings.push({
        kind: 'direct_reference',
        ecosystem: dep.ecosystem,
        name: dep.name,
        origin: dep.origin,
        message: `${dep.ecosystem} package "${dep.name}" is installed from a ${
          dep.origin === 'vcs'
            ? 'version-control URL'
            : dep.origin === 'path'
              ? 'local path'
              : 'direct URL'
        }, not from a package index: its content is whatever that location serves`,
      });
    }
  }
  const pypi = new Set(input.dependencies.filter((d) => d.ecosystem === 'pypi').map((d) => d.name));
  const conda = new Set(
    input.dependencies.filter((d) => d.ecosystem === 'conda').map((d) => d.name),
  );
  // A mismatch needs a name from each ecosystem.
  if (conda.size === 0) return warnings;
  for (const pypiName of [...pypi].sort()) {
    if (conda.has(pypiName)) continue;
    const candidates = new Set<string>(CONDA_NAMES[pypiName] ?? []);
    for (const condaName of conda) {
      if (squash(condaName) === squash(pypiName)) candidates.add(condaName);
    }
    for (const condaName of [...candidates].sort()) {
      if (!conda.has(condaName)) continue;
      warnings.push({
        kind: 'ecosystem_name_mismatch',
        pypi: pypiName,
        conda: condaName,
        message: `the notebook asks for "${pypiName}" from PyPI and "${condaName}" from conda: the two names are approved separately and may not be the same project`,
      });
    }
  }
  return warnings;
}
