// Fixtures, golden files and a CLI runner for the probe, reachability and policy command tests.
// Golden files are rewritten only on request, then reviewed as a diff:
//   TWINPATH_UPDATE_GOLDEN=1 npx vitest run test/cli/probe.test.ts test/cli/reachability.test.ts test/cli/policy.test.ts
// Without that variable a missing or different file fails the test.

import { join } from 'node:path';
import { ROOT } from '../helpers/paths.js';

export const FIXTURES = join(ROOT, 'test/fixtures/probe');
export const CLUSTER = join(FIXTURES, 'cluster.yaml');
export const POLICIES = join(FIXTURES, 'policies.yaml');

// The runner and the comparison are the shared ones; the probe, reachability, policy, replay and
// explain tests import them from here with the fixtures.
export { cli } from '../helpers/cli.js';
export { golden } from '../helpers/golden.js';
