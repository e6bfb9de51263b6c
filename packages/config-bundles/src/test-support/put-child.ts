// Child process for the restart test: stores the sample bundle in a file and exits.
import { openConfigBundleStore } from '../sqlite/index.js';
import { sampleBundle } from './bundles.js';

const [file] = process.argv.slice(2) as [string];
const store = openConfigBundleStore(file, { clock: () => new Date('2025-03-01T00:00:00Z') });
const { created } = store.put(sampleBundle());
store.close();
process.stdout.write(JSON.stringify({ created }));
