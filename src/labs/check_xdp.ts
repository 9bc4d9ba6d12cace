// The check of an XDP lab (lab 10): the learner's C file built with clang as the project builds
// its own objects, the object's program run on every packet of the lab's capture in the VM, and
// each task's expected actions judged per packet. A program that reads past the packet's end
// is stopped by the VM (VM_OOB_ACCESS, with the instruction and its C line); the check shows
// that error and says what the kernel's verifier would have said. In the kernel (`--kernel`)
// the object is loaded there too (the verifier has its say) and every packet runs in both
// engines, compared as `twinpath run --engine both` compares them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TwinpathError, isTwinpathError } from '../errors.js';
import { findProgram, readObject, type ProgramSpec } from '../elf/object.js';
import { getEngine } from '../engine/index.js';
import { actionName } from '../engine/actions.js';
import { compareRuns, summarizeDifferences } from '../engine/compare.js';
import type { EngineObject, RunOutput } from '../engine/engine.js';
import { readCapture } from '../pcap/reader.js';
import { capturePath, labDirName, type Lab } from './lab.js';
import type { CheckResult, Failure } from './result.js';
import { describeFlow, selectFlows } from './select.js';
import { clangInstallAdvice, compileBpf, findClang } from './toolchain.js';
import { expandTraffic, readTrafficSpec, type Traffic, type TrafficPacket } from './traffic.js';

/** One packet's fate: the action, or the error that stopped the program. */
type Outcome = { action: string; out: RunOutput } | { error: TwinpathError };

export async function checkXdpLab(lab: Lab, dir: string, opts: { engine: 'vm' | 'kernel' }): Promise<CheckResult> {
  const started = Date.now();
  const traffic = expandTraffic(readTrafficSpec(lab.traffic!));
  const result: CheckResult = { lab, engine: opts.engine, passed: false, tasks: [], packets: 0, notes: [], elapsedMs: 0 };
  const done = (): CheckResult => {
    result.passed = result.tasks.length > 0 && result.tasks.every((t) => t.status === 'pass');
    result.elapsedMs = Date.now() - started;
    return result;
  };
  const failAll = (failure: Failure, reason: string): CheckResult => {
    const [first, ...rest] = lab.tasks;
    result.tasks.push({ task: first!, status: 'fail', failure });
    for (const t of rest) result.tasks.push({ task: t, status: 'not-checked', reason });
    return done();
  };

  const clang = findClang();
  if (!clang) {
    throw new TwinpathError('LAB_NEEDS', `lab ${labDirName(lab.number, lab.slug)} builds your C file with clang, which is not on PATH (looked for clang-19, clang); install it: ${clangInstallAdvice()}`);
  }
  const source = lab.source!;
  const object = source.replace(/\.c$/, '') + '.o';
  const built = compileBpf(clang, dir, source, object);
  if (!built.ok) {
    return failAll({ expected: `${source} compiles`, got: 'the compiler refused it', flows: [], detail: built.messages.split('\n') }, 'your program does not compile');
  }
  result.notes.push(`built ${object}: clang -O2 -g -target bpf -mcpu=v3`);

  const bytes = new Uint8Array(readFileSync(join(dir, object)));
  let prog: ProgramSpec;
  let spec;
  try {
    spec = readObject(bytes, object);
    prog = findProgram(spec, lab.program);
  } catch (e) {
    if (!isTwinpathError(e)) throw e;
    return failAll({ expected: `${object} has an XDP program named ${lab.program}`, got: `${e.message} [${e.code}]`, flows: [] }, 'no program to run');
  }

  const objects: Array<{ engine: 'vm' | 'kernel'; obj: EngineObject }> = [];
  try {
    for (const kind of opts.engine === 'kernel' ? (['vm', 'kernel'] as const) : (['vm'] as const)) {
      try {
        objects.push({ engine: kind, obj: (await getEngine(kind)).open({ bytes, file: object, spec }) });
      } catch (e) {
        if (!isTwinpathError(e)) throw e;
        const detail: string[] = [];
        if (kind === 'kernel') {
          detail.push('The kernel\'s verifier proves every memory access safe before a program may run; the VM checks each access as it happens.');
          const stopped = objects[0] ? await firstVmError(objects[0].obj, prog, lab) : undefined;
          if (stopped) detail.push(`In the VM, packet #${stopped.packet} stops the program: ${stopped.error.message} [${stopped.error.code}]`);
        }
        return failAll({ expected: `the ${kind === 'vm' ? 'VM' : 'kernel'} loads ${object}`, got: `${e.message} [${e.code}]`, flows: [], detail }, 'the program does not load');
      }
    }
    const outcomes = new Map<number, Outcome[]>();
    const disagreements: Failure[] = [];
    for await (const rec of readCapture(capturePath(lab.traffic!))) {
      const n = rec.index + 1;
      const runs = objects.map(({ engine, obj }) => runOne(engine, obj, prog, rec.data));
      outcomes.set(n, runs);
      result.packets++;
      const [vm, kernel] = runs;
      if (kernel && vm && 'out' in vm && 'out' in kernel) {
        const diffs = compareRuns(vm.out, kernel.out, objects[0]!.obj.maps(), objects[1]!.obj.maps());
        if (diffs.length > 0) disagreements.push({ expected: 'the VM and the kernel agree', got: `packet #${n}: ${summarizeDifferences(diffs)}`, packet: n, flows: [] });
      } else if (kernel && vm && ('error' in vm) !== ('error' in kernel)) {
        disagreements.push({ expected: 'the VM and the kernel agree', got: `packet #${n}: ${'error' in vm ? `the VM stopped the program (${vm.error.code}), the kernel ran it` : `the kernel failed (${(kernel as { error: TwinpathError }).error.code}), the VM ran it`}`, packet: n, flows: [] });
      }
    }
    if (opts.engine === 'kernel') result.notes.push(`ran ${result.packets} packets in the VM and in the kernel: ${disagreements.length === 0 ? 'they agree' : `${disagreements.length} disagreements`}`);
    for (const task of lab.tasks) {
      const failure = judgeTask(task.expect, traffic, outcomes) ?? disagreements[0];
      result.tasks.push(failure ? { task, status: 'fail', failure } : { task, status: 'pass' });
    }
  } finally {
    for (const o of objects) o.obj.close();
  }
  return done();
}

/** The first packet of the capture on which the VM stops the program, if any. */
async function firstVmError(obj: EngineObject, prog: ProgramSpec, lab: Lab): Promise<{ packet: number; error: TwinpathError } | undefined> {
  for await (const rec of readCapture(capturePath(lab.traffic!))) {
    const o = runOne('vm', obj, prog, rec.data);
    if ('error' in o) return { packet: rec.index + 1, error: o.error };
  }
  return undefined;
}

function runOne(engine: 'vm' | 'kernel', obj: EngineObject, prog: ProgramSpec, packet: Uint8Array): Outcome {
  try {
    const out = obj.run(prog.name, { packet });
    return { action: actionName(prog.hook, out.retval), out };
  } catch (e) {
    if (!isTwinpathError(e)) throw e;
    return { error: e.within({ program: prog.name }) };
  }
}

function judgeTask(expect: Lab['tasks'][number]['expect'], traffic: Traffic, outcomes: Map<number, Outcome[]>): Failure | undefined {
  const packets = new Map(traffic.packets.map((p) => [p.packet, p]));
  for (const e of expect) {
    for (const s of selectFlows(e.select, traffic)) {
      for (const n of s.packets) {
        const o = outcomes.get(n)?.[0];
        const expected = `every packet of flow ${describeFlow(s.flow)} gets ${e.action}`;
        const pkt = packetLine(packets.get(n));
        if (!o) return { expected, got: `packet #${n} is not in the capture`, packet: n, flows: [] };
        if ('error' in o) return { expected, got: `packet #${n}: the VM stopped the program`, packet: n, flows: [], detail: [pkt, ...explainError(o.error)] };
        if (o.action !== e.action) return { expected, got: `packet #${n} got ${o.action}`, packet: n, flows: [], detail: [pkt] };
      }
    }
  }
  return undefined;
}

function packetLine(p: TrafficPacket | undefined): string {
  if (!p) return '';
  const cut = p.frame.length < p.originalLength ? `, cut to ${p.frame.length} of ${p.originalLength} bytes` : `, ${p.frame.length} bytes`;
  return `packet #${p.packet}: ${p.direction} of flow ${p.flow}${cut}`;
}

/** The VM's error, and what it means for a program the kernel would have to verify. */
function explainError(e: TwinpathError): string[] {
  const lines = [`${e.message} [${e.code}]`];
  if (e.code === 'VM_OOB_ACCESS') {
    lines.push(
      'The program read outside the packet: nothing proved that this access stays below data_end, and',
      'this packet is shorter than the program assumed. The kernel\'s verifier refuses such a program',
      'at load ("invalid access to packet"); compare the end of the header with data_end before reading it.',
    );
  } else if (e.code === 'VM_BUDGET_EXHAUSTED') {
    lines.push('The program ran too long: the kernel\'s verifier would refuse a loop it cannot bound.');
  }
  return lines;
}
