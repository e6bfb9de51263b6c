import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEM_PYTHON } from '@runyard/testing';

// Validates many documents with Debian's python3-nbformat in one interpreter start: each
// document is read as nbformat does (`reads(..., as_version=4)`) and checked by
// `nbformat.validate`. Also returns what nbformat read (cell ids, types, sources), so a test
// can compare nbformat's view with ours.
const SCRIPT = `
import json, sys, nbformat
docs = json.load(sys.stdin)
out = []
for text in docs:
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        out.append({"ok": True, "cells": [[c.get("id"), c.cell_type, c.source] for c in nb.cells]})
    except Exception as e:
        out.append({"ok": False, "error": type(e).__name__ + ": " + str(e)[:500]})
json.dump(out, sys.stdout)
`;

export interface NbformatVerdict {
  ok: boolean;
  error?: string;
  cells?: [string | undefined, string, string][];
}

export function validateWithNbformat(texts: string[]): NbformatVerdict[] {
  const stdout = execFileSync(SYSTEM_PYTHON, ['-W', 'ignore', '-c', SCRIPT], {
    input: JSON.stringify(texts),
    maxBuffer: 512 * 1024 * 1024,
  });
  return JSON.parse(stdout.toString('utf8')) as NbformatVerdict[];
}

export const FIXTURES = [
  'jupyter.ipynb',
  'jupyter-4.4.ipynb',
  'vscode.ipynb',
  'colab.ipynb',
  'nteract.ipynb',
  'crlf-tabs.ipynb',
  'compact.ipynb',
] as const;

export function fixture(name: string): Buffer {
  return readFileSync(join(import.meta.dirname, 'fixtures', name));
}
