// Teardown for the tests that build a sandbox and attach the datapath to its nodes: node
// attachments are detached before the sandbox's namespaces go (so no pin or state file of theirs
// outlives it), and the namespaces go even when detaching fails.

import { detachSandbox } from '../../src/node/index.js';
import { sandboxDown, type SandboxState } from '../../src/sandbox/index.js';

/** Closes the prober that used the sandbox, if any, then removes the sandbox and its attachments.
 * `sb` is undefined when building it failed: then there is nothing to remove. */
export function removeSandbox(sb: SandboxState | undefined, prober?: { close(): void }): void {
  prober?.close();
  if (!sb) return;
  try {
    detachSandbox(sb.name);
  } finally {
    sandboxDown(sb.name);
  }
}
