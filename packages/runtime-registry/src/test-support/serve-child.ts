// A /v1 runtime server in its own process, so a test can kill it mid-call.
// Usage: serve-child.ts <database-file> <token>
import { startRuntimeServer } from '../server/index.js';
import { MemoryRuntime } from './memory-runtime.js';

const [databaseFile, token] = process.argv.slice(2);
if (!databaseFile || !token) throw new Error('usage: serve-child.ts <database-file> <token>');
const api = new MemoryRuntime(databaseFile, 'child-runtime');
api.onHang = () => process.stdout.write('hanging\n');
const server = await startRuntimeServer({ api, token });
process.stdout.write(`listening ${server.url}\n`);
