// Every Ethernet packet of the shared tcpdump corpus (real and fuzzed captures) through the
// clang-compiled parsing program (bpf/test/progs/parse.bpf.c) in both engines: the same return
// code, output bytes, context and counters for every packet, or the same refusal.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readObject } from '../../src/elf/object.js';
import { vmEngine } from '../../src/engine/vm.js';
import { kernelEngine } from '../../src/engine/kernel.js';
import { compareRuns } from '../../src/engine/compare.js';
import { readCaptureSync, toEthernet } from '../../src/pcap/index.js';
import { TwinpathError } from '../../src/errors.js';
import { describeKernel } from '../helpers/kernel.js';
import { SHARED, requireShared } from '../helpers/paths.js';
import { progsDir } from './expected.js';

const CORPUS = join(SHARED, 'corpus', 'tcpdump');
const present = requireShared(CORPUS);

describeKernel('the tcpdump corpus through parse.bpf.o in both engines', () => {
  it.skipIf(!present)('gives zero differences for every Ethernet packet', () => {
    const bytes = new Uint8Array(readFileSync(join(progsDir, 'parse.bpf.o')));
    const spec = readObject(bytes, 'parse.bpf.o');
    const vm = vmEngine.open({ bytes, file: 'parse.bpf.o', spec });
    const kernel = kernelEngine.open({ bytes, file: 'parse.bpf.o', spec });
    const differences: string[] = [];
    let packets = 0;
    let refused = 0;
    try {
      for (const file of readdirSync(CORPUS).sort()) {
        let records;
        try {
          records = readCaptureSync(new Uint8Array(readFileSync(join(CORPUS, file))), { file, oversizedRecords: 'truncate' });
        } catch (e) {
          if (e instanceof TwinpathError) continue; // not a capture (the reader's own test covers these)
          throw e;
        }
        for (const rec of records) {
          const eth = toEthernet(rec);
          if (!('frame' in eth)) continue;
          packets++;
          const outcome = (engine: typeof vm) => {
            try {
              return { out: engine.run('parse', { packet: eth.frame }) };
            } catch (e) {
              if (e instanceof TwinpathError) return { error: e.code };
              throw e;
            }
          };
          const a = outcome(vm);
          const b = outcome(kernel);
          if (a.error || b.error) {
            refused++;
            if (a.error !== b.error) differences.push(`${file} #${rec.index}: vm ${a.error ?? 'ran'}, kernel ${b.error ?? 'ran'}`);
            continue;
          }
          for (const d of compareRuns(a.out!, b.out!, vm.maps(), kernel.maps())) {
            differences.push(`${file} #${rec.index}: ${JSON.stringify(d)}`);
          }
        }
      }
    } finally {
      vm.close();
      kernel.close();
    }
    console.log(`tcpdump corpus: ${packets} Ethernet packets through parse.bpf.o, ${refused} refused by both engines`);
    expect(differences.slice(0, 20)).toEqual([]);
    expect(packets).toBeGreaterThan(5000);
  }, 600_000);
});
