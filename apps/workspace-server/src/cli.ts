import { main } from './cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`runyard: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
