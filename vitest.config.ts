import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Fails the run when namespaces, veths, pins or attachments outlive the tests.
    globalSetup: ['test/sandbox/leak-check.ts'],
  },
});
