// How a node attachment is named and where it keeps what outlives the process: its pins in
// bpffs and its state file. An attachment's name picks both, so a second `attach` of the same
// name finds (and replaces) the first, and `detach NAME` finds everything to remove.
//
// Pins go under /sys/fs/bpf/twinpath/<name>/ (maps/ and progs/). An attachment made for a
// sandbox pins inside the sandbox's own bpffs directory instead, so `sandbox down` also removes
// it. State files live in /run/twinpath/node/<name>.json (TWINPATH_NODE_DIR moves them).

import { hostname } from 'node:os';
import { TwinpathError } from '../errors.js';
import { bpffsDirOf } from '../sandbox/names.js';

/** Where bpffs is normally mounted; every pin twinpath makes is below BPFFS/twinpath. */
export const BPFFS = '/sys/fs/bpf';

// No '.': bpffs refuses names with a dot (it keeps those for its own files).
export const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

export function checkNodeName(name: string): string {
  if (!NODE_NAME_RE.test(name) || name === 'sandbox') {
    throw new TwinpathError(
      'NODE_ERROR',
      `"${name}" is not an attachment name: use 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (and not "sandbox", which holds sandbox pins)`,
    );
  }
  return name;
}

/** The default attachment name: this machine's host name, cut to what a name may hold. */
export function defaultNodeName(): string {
  const h = hostname().replace(/[^A-Za-z0-9_-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 63);
  return h === '' || h === 'sandbox' ? 'node' : h;
}

/** The pin directory of an attachment: its own, or one inside a sandbox's bpffs directory. */
export function pinDirOf(name: string, sandbox?: string): string {
  checkNodeName(name);
  return sandbox !== undefined ? `${bpffsDirOf(sandbox)}/${name}` : `${BPFFS}/twinpath/${name}`;
}

/** The attachment name `probe --engine live` and `node attach --sandbox` give a sandbox node. */
export function sandboxNodeName(sandbox: string, node: string): string {
  return checkNodeName(`${sandbox}-${node.replace(/[^A-Za-z0-9_-]/g, '-')}`.slice(0, 63));
}

export function nodeStateDir(): string {
  const d = process.env.TWINPATH_NODE_DIR;
  return d !== undefined && d !== '' ? d : '/run/twinpath/node';
}
