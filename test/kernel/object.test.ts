// Kernel engine: opening, describing, configuring and loading objects; globals set before
// load; load failures carrying the verifier log; bad input refused with an error, never a crash.

import { afterEach, expect, it } from 'vitest';
import { KernelObject, isKernelError } from '../../src/kernel/index.js';
import { describeKernel, kernelFixture } from '../helpers/kernel.js';

function expectKernelError(fn: () => unknown, errnoName: string): Error {
  try {
    fn();
  } catch (e) {
    expect(isKernelError(e), String(e)).toBe(true);
    expect((e as { code: string }).code).toBe('KERNEL_ERROR');
    expect((e as { errnoName: string }).errnoName).toBe(errnoName);
    return e as Error;
  }
  throw new Error(`expected a KernelError ${errnoName}`);
}

describeKernel('kernel objects', () => {
  const open: KernelObject[] = [];
  const track = (o: KernelObject) => (open.push(o), o);
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  it('lists programs, maps and globals before load', () => {
    const obj = track(KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o'));
    expect(obj.name).toBe('tc_mark');
    const info = obj.info();
    expect(info.loaded).toBe(false);
    expect(info.programs).toEqual([
      expect.objectContaining({ name: 'tc_mark', section: 'tc', typeName: 'sched_cls', type: 3, autoload: true }),
    ]);
    const byName = Object.fromEntries(info.maps.map((m) => [m.name, m]));
    expect(byName.counts).toMatchObject({ typeName: 'hash', keySize: 4, valueSize: 8, maxEntries: 4, internal: false });
    expect(byName.events).toMatchObject({ typeName: 'ringbuf', maxEntries: 4096 });
    expect(byName.per_cpu).toMatchObject({ typeName: 'percpu_array', keySize: 4, valueSize: 4 });
    expect(byName.fifo).toMatchObject({ typeName: 'queue', keySize: 0, valueSize: 4, maxEntries: 3 });
    expect(byName['tc_mark.rodata']).toMatchObject({ internal: true, typeName: 'array' });
    const globals = Object.fromEntries(obj.globals().map((g) => [g.name, g]));
    expect(globals.mark_base).toMatchObject({ section: '.rodata', size: 4 });
    expect(globals.first_byte).toMatchObject({ section: '.rodata', size: 1 });
    expect(globals.packets).toMatchObject({ section: '.bss', size: 8 });
    expect(globals.last_len).toMatchObject({ section: '.data', size: 4 });
    expect(obj.getGlobal('mark_base')).toEqual(Buffer.from([0x00, 0x01, 0, 0]));
    expect(obj.getGlobal('last_len')).toEqual(Buffer.from([0xff, 0xff, 0xff, 0xff]));
  });

  it('loads, and gives programs and maps fds', () => {
    const obj = track(KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o')).load();
    const prog = obj.program('tc_mark');
    expect(prog.fd).toBeGreaterThan(2);
    expect(prog.info()).toMatchObject({ name: 'tc_mark', typeName: 'sched_cls' });
    expect(prog.info().tag).toMatch(/^[0-9a-f]{16}$/);
    expect(obj.map('counts').info()).toMatchObject({ name: 'counts', typeName: 'hash', keySize: 4, valueSize: 8 });
  });

  it('sets globals before load, as a skeleton would', () => {
    const obj = track(KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o'));
    obj.setGlobal('mark_base', 0x5000).setGlobal('first_byte', Buffer.from([0x42]));
    expect(obj.getGlobal('mark_base')).toEqual(Buffer.from([0, 0x50, 0, 0]));
    obj.load();
    const r = obj.program().testRun(Buffer.alloc(60, 0x11));
    expect(r.ctxOut!.readUInt32LE(8)).toBe(0x5000 + 60); // __sk_buff.mark
    expect(r.dataOut[0]).toBe(0x42);
    // .rodata is frozen by load; .data and .bss stay writable and readable.
    expectKernelError(() => obj.setGlobal('mark_base', 1), 'EPERM');
    expect(obj.getGlobal('packets').readBigUInt64LE(0)).toBe(1n);
    obj.setGlobal('packets', 41n);
    obj.program().testRun(Buffer.alloc(60));
    expect(obj.getGlobal('packets').readBigUInt64LE(0)).toBe(42n);
    expect(obj.getGlobal('last_len').readUInt32LE(0)).toBe(60);
  });

  it('refuses globals of the wrong size or name', () => {
    const obj = track(KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o'));
    expectKernelError(() => obj.setGlobal('mark_base', Buffer.alloc(3)), 'EINVAL');
    expectKernelError(() => obj.setGlobal('no_such_global', Buffer.alloc(4)), 'ENOENT');
    expectKernelError(() => obj.getGlobal('no_such_global'), 'ENOENT');
  });

  it('changes max_entries and program type before load, and refuses after', () => {
    const obj = track(KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o'));
    obj.setMaxEntries('counts', 16).setProgramType('tc_mark', 'sched_act');
    expect(obj.info().programs[0]!.typeName).toBe('sched_act');
    obj.setProgramType('tc_mark', 'sched_cls').load();
    expect(obj.map('counts').info().maxEntries).toBe(16);
    expectKernelError(() => obj.setMaxEntries('counts', 8), 'EBUSY');
    expectKernelError(() => obj.load(), 'EBUSY');
    expectKernelError(() => obj.setMaxEntries('nope', 8), 'EBUSY');
  });

  it('skips programs whose autoload is off', () => {
    const obj = track(KernelObject.open(kernelFixture('verifier_reject'), 'verifier_reject.bpf.o'));
    obj.setAutoload('unchecked_read', false).load();
    expect(obj.info().programs[0]).toMatchObject({ autoload: false, fd: -1 });
    expectKernelError(() => obj.program().fd, 'EBADF');
  });

  it('a verifier rejection carries the verifier log', () => {
    const obj = track(KernelObject.open(kernelFixture('verifier_reject'), 'verifier_reject.bpf.o'));
    const e = expectKernelError(() => obj.load(), 'EACCES') as Error & { log?: string; op: string };
    expect(e.op).toBe('loadObject');
    expect(e.message).toContain('unchecked_read');
    expect(e.message).toMatch(/invalid access to packet/);
    expect(e.log).toMatch(/BEGIN PROG LOAD LOG/);
    expect(e.log).toMatch(/R1 offset is outside of the packet/);
  });

  it('shortens a long verifier log in the message and keeps it whole on .log', () => {
    const obj = track(KernelObject.open(kernelFixture('verifier_long_reject'), 'verifier_long_reject.bpf.o'));
    const e = expectKernelError(() => obj.load(), 'EACCES') as Error & { log: string };
    expect(e.log.length).toBeGreaterThan(50_000);
    expect(e.message.length).toBeLessThan(10_000);
    expect(e.message).toContain('BEGIN PROG LOAD LOG'); // the head: which program, what libbpf did
    expect(e.message).toMatch(/bytes of log omitted/);
    expect(e.message).toContain('R1 offset is outside of the packet'); // the tail: why
    expect(e.message).toContain('verifier_long_reject'); // the object, from the location
  });

  it('rejects bytes that are not a BPF object', () => {
    expectKernelError(() => KernelObject.open(Buffer.from('not an ELF file at all'), 'junk.o'), 'LIBBPF_ERRNO__FORMAT');
    expectKernelError(() => KernelObject.open(Buffer.alloc(0), 'empty.o'), 'EINVAL');
    const truncated = kernelFixture('tc_mark').subarray(0, 200);
    const e = expectKernelError(() => KernelObject.open(truncated, 'truncated.o'), 'LIBBPF_ERRNO__FORMAT');
    expect(e.message).toContain('truncated');
  });

  it('refuses a closed object and unknown names', () => {
    const obj = KernelObject.open(kernelFixture('tc_mark'), 'tc_mark.bpf.o');
    expectKernelError(() => obj.program('nope'), 'ENOENT');
    expectKernelError(() => obj.map('nope'), 'ENOENT');
    obj.load();
    const map = obj.map('counts');
    const prog = obj.program();
    obj.close();
    obj.close(); // idempotent
    expect(obj.closed).toBe(true);
    expectKernelError(() => obj.info(), 'EBADF');
    expectKernelError(() => map.lookup(Buffer.alloc(4)), 'EBADF');
    expectKernelError(() => prog.testRun(Buffer.alloc(60)), 'EBADF');
  });
});
