#!/usr/bin/env node
// Entry point: runs the compiled CLI (npm install and npm test build dist/ from src/).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`twinpath: internal error: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 3;
  },
);
