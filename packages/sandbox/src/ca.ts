import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import forge from 'node-forge';
import { SandboxError } from './errors.js';

/**
 * Certificates are built with node-forge (pure JS, no `openssl` binary needed at run time);
 * RSA keys come from Node's native crypto, which is fast.
 */

export interface ProxyCa {
  certPem: string;
  keyPem: string;
  /** The CA certificate alone (for NODE_EXTRA_CA_CERTS, DENO_CERT). */
  certPath: string;
  keyPath: string;
  /** System CAs + this CA: SSL_CERT_FILE replaces the system bundle, so it must carry both. */
  bundlePath: string;
}

export interface CaOptions {
  now?: () => Date;
  /** System CA bundle to combine with; defaults to the first known distro bundle, else Node's. */
  systemCaPem?: string;
}

const CA_FILE = 'proxy-ca.crt';
const KEY_FILE = 'proxy-ca.key';
const BUNDLE_FILE = 'proxy-ca-bundle.crt';

const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt',
  '/etc/pki/tls/certs/ca-bundle.crt',
  '/etc/ssl/ca-bundle.pem',
  '/etc/ssl/cert.pem',
];

/** The host's trust store as PEM: the distro bundle when there is one, else Node's Mozilla set. */
export function systemCaPem(): string {
  for (const file of SYSTEM_BUNDLES) {
    try {
      const pem = readFileSync(file, 'utf8');
      if (pem.includes('BEGIN CERTIFICATE')) return pem;
    } catch {
      // try the next location
    }
  }
  return `${rootCertificates.join('\n')}\n`;
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  // Positive and without a leading zero byte, as DER INTEGER serials must be.
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x10;
  return bytes.toString('hex');
}

function rsaKeyPair(): {
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
  pem: string;
} {
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e), pem: privateKey };
}

const DAY = 86_400_000;

export interface GeneratedCa {
  certPem: string;
  keyPem: string;
}

/** A fresh self-signed CA (5 years), named so it is recognisable in a trust store. */
export function generateCa(
  commonName = 'Runyard egress proxy CA',
  now: Date = new Date(),
): GeneratedCa {
  const keys = rsaKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - DAY);
  cert.validity.notAfter = new Date(now.getTime() + 5 * 365 * DAY);
  const subject = [
    { name: 'commonName', value: commonName },
    { name: 'organizationName', value: 'Runyard' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.pem };
}

export interface LeafCert {
  certPem: string;
  keyPem: string;
}

export interface LeafIssuer {
  /** A server certificate for `host` (DNS name or IP), cached per host. */
  issue(host: string): LeafCert;
}

/**
 * Issues leaf certificates signed by the CA. One leaf key serves every host (as MITM proxies
 * commonly do) so a new host costs a signature, not a key generation.
 */
export function createLeafIssuer(ca: GeneratedCa, options: { now?: () => Date } = {}): LeafIssuer {
  const now = options.now ?? (() => new Date());
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const caKeyId = caCert.generateSubjectKeyIdentifier().getBytes();
  const leafKeys = rsaKeyPair();
  const cache = new Map<string, { leaf: LeafCert; renewAt: number }>();
  return {
    issue(host: string): LeafCert {
      const key = host.toLowerCase();
      const at = now().getTime();
      const cached = cache.get(key);
      if (cached && cached.renewAt > at) return cached.leaf;
      const cert = forge.pki.createCertificate();
      cert.publicKey = leafKeys.publicKey;
      cert.serialNumber = serialNumber();
      cert.validity.notBefore = new Date(at - DAY);
      cert.validity.notAfter = new Date(at + 30 * DAY);
      cert.setSubject([{ name: 'commonName', value: key.slice(0, 64) }]);
      cert.setIssuer(caCert.subject.attributes);
      const altName = isIP(key) ? { type: 7, ip: key } : { type: 2, value: key };
      cert.setExtensions([
        { name: 'basicConstraints', cA: false },
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [altName] },
        { name: 'subjectKeyIdentifier' },
        { name: 'authorityKeyIdentifier', keyIdentifier: caKeyId },
      ]);
      cert.sign(caKey, forge.md.sha256.create());
      const leaf = { certPem: forge.pki.certificateToPem(cert), keyPem: leafKeys.pem };
      cache.set(key, { leaf, renewAt: at + 7 * DAY });
      return leaf;
    },
  };
}

function writeAtomic(path: string, data: string, mode: number): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, data, { mode, flag: 'wx' });
  chmodSync(temp, mode);
  renameSync(temp, path);
}

/**
 * Loads the per-runtime proxy CA from `dir`, creating it (key 0600, dir 0700) on first use, and
 * rewrites the combined bundle. A key with group/other permissions, or files that do not parse
 * or do not match, are a typed error: never silently replaced, since workers may trust the old CA.
 * An expired CA is replaced.
 */
export function loadOrCreateProxyCa(dir: string, options: CaOptions = {}): ProxyCa {
  const now = options.now ?? (() => new Date());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, CA_FILE);
  const keyPath = join(dir, KEY_FILE);
  const bundlePath = join(dir, BUNDLE_FILE);
  let ca: GeneratedCa | undefined;
  if (existsSync(keyPath) || existsSync(certPath)) {
    ca = readCa(certPath, keyPath, now());
  }
  if (!ca) {
    ca = generateCa('Runyard egress proxy CA', now());
    writeAtomic(keyPath, ca.keyPem, 0o600);
    writeAtomic(certPath, ca.certPem, 0o644);
  }
  const system = options.systemCaPem ?? systemCaPem();
  writeAtomic(bundlePath, `${system.trimEnd()}\n${ca.certPem.trimEnd()}\n`, 0o644);
  return { ...ca, certPath, keyPath, bundlePath };
}

function readCa(certPath: string, keyPath: string, at: Date): GeneratedCa | undefined {
  let keyPem: string;
  let certPem: string;
  try {
    const mode = statSync(keyPath).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new SandboxError(
        'proxy_ca_invalid',
        'proxy CA key is readable by other users; expected mode 0600',
      );
    }
    keyPem = readFileSync(keyPath, 'utf8');
    certPem = readFileSync(certPath, 'utf8');
  } catch (error) {
    if (error instanceof SandboxError) throw error;
    throw new SandboxError('proxy_ca_invalid', 'proxy CA files are incomplete or unreadable', {
      cause: error,
    });
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
    const pub = forge.pki.certificateFromPem(certPem).publicKey as forge.pki.rsa.PublicKey;
    if (key.n.compareTo(pub.n) !== 0) throw new Error('key does not match certificate');
    if (!cert.ca) throw new Error('not a CA certificate');
  } catch (error) {
    throw new SandboxError('proxy_ca_invalid', 'proxy CA files are malformed or do not match', {
      cause: error,
    });
  }
  if (new Date(cert.validTo).getTime() <= at.getTime() + 30 * DAY) return undefined;
  return { certPem, keyPem };
}

/**
 * Environment that makes common clients inside the sandbox trust the proxy CA. Bundles replace
 * the default store (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO), so they
 * point at the combined bundle; NODE_EXTRA_CA_CERTS and DENO_CERT add to it, so they get the CA.
 */
export function caEnvironment(ca: {
  certPath: string;
  bundlePath: string;
}): Record<string, string> {
  return {
    SSL_CERT_FILE: ca.bundlePath,
    REQUESTS_CA_BUNDLE: ca.bundlePath,
    CURL_CA_BUNDLE: ca.bundlePath,
    GIT_SSL_CAINFO: ca.bundlePath,
    NODE_EXTRA_CA_CERTS: ca.certPath,
    DENO_CERT: ca.certPath,
  };
}

/**
 * Copies the CA certificate and combined bundle (never the key) into `dir`, e.g. the worker's
 * runtime dir, for when the CA dir itself sits inside a path hidden from the sandbox.
 */
export function installCaFiles(ca: ProxyCa, dir: string): { certPath: string; bundlePath: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certPath = join(dir, CA_FILE);
  const bundlePath = join(dir, BUNDLE_FILE);
  writeAtomic(certPath, ca.certPem, 0o644);
  writeAtomic(bundlePath, readFileSync(ca.bundlePath, 'utf8'), 0o644);
  return { certPath, bundlePath };
}
