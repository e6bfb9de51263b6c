import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caEnvironment, createLeafIssuer, installCaFiles, loadOrCreateProxyCa } from './ca.js';
import { createSecretPlaceholders, PLACEHOLDER_PREFIX } from './placeholders.js';

const SYSTEM = '-----BEGIN CERTIFICATE-----\nSYSTEMCA\n-----END CERTIFICATE-----\n';

describe('per-runtime proxy CA', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'runyard-ca-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a CA with a 0600 key, reloads the same one, and writes a combined bundle', () => {
    const caDir = join(dir, 'ca');
    const first = loadOrCreateProxyCa(caDir, { systemCaPem: SYSTEM });
    expect(statSync(first.keyPath).mode & 0o777).toBe(0o600);
    expect(statSync(caDir).mode & 0o777).toBe(0o700);
    const cert = new X509Certificate(first.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('Runyard egress proxy CA');
    const bundle = readFileSync(first.bundlePath, 'utf8');
    expect(bundle.startsWith(SYSTEM)).toBe(true);
    expect(bundle).toContain(first.certPem.trim());
    const second = loadOrCreateProxyCa(caDir, { systemCaPem: SYSTEM });
    expect(second.certPem).toBe(first.certPem);
    expect(second.keyPem).toBe(first.keyPem);
    // Default: the real system store is part of the bundle.
    const real = loadOrCreateProxyCa(caDir);
    expect(
      readFileSync(real.bundlePath, 'utf8').match(/BEGIN CERTIFICATE/g)?.length,
    ).toBeGreaterThan(10);
  });

  it('refuses a key readable by others, and malformed or mismatched files, without replacing them', () => {
    const ca = loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM });
    chmodSync(ca.keyPath, 0o644);
    expect(() => loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM })).toThrowError(
      expect.objectContaining({ code: 'proxy_ca_invalid' }),
    );
    chmodSync(ca.keyPath, 0o600);
    const other = loadOrCreateProxyCa(join(dir, 'other'), { systemCaPem: SYSTEM });
    writeFileSync(ca.keyPath, other.keyPem);
    expect(() => loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM })).toThrowError(
      expect.objectContaining({ code: 'proxy_ca_invalid' }),
    );
    writeFileSync(ca.certPath, 'garbage');
    let caught: Error | undefined;
    try {
      loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM });
    } catch (error) {
      caught = error as Error;
    }
    expect(caught).toMatchObject({ code: 'proxy_ca_invalid' });
    expect(caught?.message).not.toContain(dir);
    expect(readFileSync(ca.certPath, 'utf8')).toBe('garbage');
  });

  it('replaces a CA close to expiry', () => {
    const first = loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM });
    const later = new Date(Date.now() + 6 * 365 * 86_400_000);
    const second = loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM, now: () => later });
    expect(second.certPem).not.toBe(first.certPem);
  });

  it('issues leaves for names and IPs that chain to the CA', () => {
    const ca = loadOrCreateProxyCa(dir, { systemCaPem: SYSTEM });
    const issuer = createLeafIssuer(ca);
    const caCert = new X509Certificate(ca.certPem);
    for (const host of ['api.example.com', '127.0.0.1']) {
      const leaf = new X509Certificate(issuer.issue(host).certPem);
      expect(leaf.verify(caCert.publicKey)).toBe(true);
      expect(leaf.checkIssued(caCert)).toBe(true);
      expect(host.includes('.com') ? leaf.checkHost(host) : leaf.checkIP(host)).toBe(host);
      expect(leaf.ca).toBe(false);
    }
    expect(issuer.issue('API.example.com')).toBe(issuer.issue('api.example.com'));
  });

  it('gives the sandbox env pointing at the bundle and CA, and installs them without the key', () => {
    const ca = loadOrCreateProxyCa(join(dir, 'ca'), { systemCaPem: SYSTEM });
    const installed = installCaFiles(ca, join(dir, 'run'));
    expect(readFileSync(installed.bundlePath, 'utf8')).toBe(readFileSync(ca.bundlePath, 'utf8'));
    expect(readFileSync(installed.certPath, 'utf8')).not.toContain('PRIVATE KEY');
    expect(caEnvironment(installed)).toEqual({
      SSL_CERT_FILE: installed.bundlePath,
      REQUESTS_CA_BUNDLE: installed.bundlePath,
      CURL_CA_BUNDLE: installed.bundlePath,
      GIT_SSL_CAINFO: installed.bundlePath,
      NODE_EXTRA_CA_CERTS: installed.certPath,
      DENO_CERT: installed.certPath,
    });
  });
});

describe('createSecretPlaceholders', () => {
  it('makes opaque, unique, per-call placeholders unrelated to any value', () => {
    const a = createSecretPlaceholders(['GITHUB_TOKEN', 'OPENAI_KEY', '__proto__']);
    const b = createSecretPlaceholders(['GITHUB_TOKEN']);
    expect(Object.keys(a)).toEqual(['GITHUB_TOKEN', 'OPENAI_KEY', '__proto__']);
    for (const value of Object.values(a))
      expect(value).toMatch(new RegExp(`^${PLACEHOLDER_PREFIX}[0-9a-f]{32}$`));
    expect(new Set(Object.values(a)).size).toBe(3);
    expect(a.GITHUB_TOKEN).not.toBe(b.GITHUB_TOKEN);
    expect(Object.getPrototypeOf(a)).toBeNull();
  });
});
