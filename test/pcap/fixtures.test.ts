import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TwinpathError } from '../../src/errors.js';
import { readCapture, toEthernet } from '../../src/pcap/index.js';
import { FIXTURES } from './fixtures.js';
import { collect } from './helpers.js';

const dir = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/pcap');
const update = process.env.TWINPATH_UPDATE_FIXTURES === '1';

describe('committed capture fixtures', () => {
  if (update) {
    mkdirSync(dir, { recursive: true });
    for (const f of FIXTURES) writeFileSync(join(dir, f.name), f.bytes);
  }

  for (const f of FIXTURES) {
    it(`${f.name}: ${f.shows}`, async () => {
      const path = join(dir, f.name);
      expect(existsSync(path), `${f.name} is missing; run with TWINPATH_UPDATE_FIXTURES=1`).toBe(true);
      expect(new Uint8Array(readFileSync(path))).toEqual(f.bytes);

      const { records, error } = await collect(readCapture(path));
      expect(records).toHaveLength(f.expected.packets);
      if (f.expected.linkTypes) expect(records.map((r) => r.linkType)).toEqual(f.expected.linkTypes);
      if (f.expected.timestampsNs) expect(records.map((r) => r.timestampNs)).toEqual(f.expected.timestampsNs);
      if (f.expected.comments) expect(records.map((r) => r.comment)).toEqual(f.expected.comments);
      if (f.expected.error) {
        expect(error).toBeInstanceOf(TwinpathError);
        const e = error as TwinpathError;
        expect({ code: e.code, offset: e.location.offset, file: e.location.file }).toEqual({ ...f.expected.error, file: path });
      } else {
        expect(error).toBeUndefined();
      }
      // Every packet of the fixtures converts to an Ethernet frame.
      for (const r of records) expect('frame' in toEthernet(r)).toBe(true);
    });
  }
});
