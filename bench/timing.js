// Timing for the benchmarks: warm up first (V8 runs a module's first calls in its baseline tier,
// and caches are cold), then take the median of several rounds, each long enough that the
// clock's resolution does not matter. Medians, because the machines these run on are shared.

const now = () => process.hrtime.bigint();
/** CPU time of this process (user + system, every thread) in ns: what a run costs, which other
 * processes competing for the CPU disturb far less than they disturb the wall clock. */
const cpuNow = () => {
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
};

/**
 * Median ns per call of fn. The warm-up runs fn for at least `warmupMs` (and `minWarmup` calls),
 * which also estimates how many calls make a round of about `roundMs`.
 */
export function nsPerCall(fn, { warmupMs = 200, minWarmup = 20, roundMs = 150, rounds = 7 } = {}) {
  let calls = 0;
  const t0 = now();
  while (calls < minWarmup || Number(now() - t0) < warmupMs * 1e6) {
    fn();
    calls++;
  }
  const estimate = Number(now() - t0) / calls;
  const iterations = Math.max(1, Math.round((roundMs * 1e6) / estimate));
  const per = [];
  for (let r = 0; r < rounds; r++) {
    const t = now();
    for (let k = 0; k < iterations; k++) fn();
    per.push(Number(now() - t) / iterations);
  }
  per.sort((a, b) => a - b);
  return per[rounds >> 1];
}

/** Median of values measured by fn() (which returns ns per packet, e.g. a kernel test run's mean). */
export function median(fn, rounds = 7) {
  const v = [];
  for (let r = 0; r < rounds; r++) v.push(fn());
  v.sort((a, b) => a - b);
  return v[rounds >> 1];
}

/**
 * Median ns per call of each function, measured in interleaved rounds (each function for about
 * `roundMs` per round, in turn), so that a change in the machine's load during the measurement
 * falls on all of them alike and their ratios stay meaningful. `clock`: 'wall' or 'cpu' (the
 * process's CPU time; rounds are then sized by wall time still).
 */
export function nsPerCallInterleaved(fns, { warmupMs = 200, minWarmup = 5, roundMs = 150, rounds = 7, clock = 'wall' } = {}) {
  const read = clock === 'cpu' ? cpuNow : now;
  const iterations = fns.map((fn) => {
    let calls = 0;
    const t0 = now();
    while (calls < minWarmup || Number(now() - t0) < warmupMs * 1e6) {
      fn();
      calls++;
    }
    return Math.max(1, Math.round((roundMs * 1e6) / (Number(now() - t0) / calls)));
  });
  const per = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    fns.forEach((fn, i) => {
      const t = read();
      for (let k = 0; k < iterations[i]; k++) fn();
      per[i].push(Number(read() - t) / iterations[i]);
    });
  }
  return per.map((v) => v.sort((a, b) => a - b)[rounds >> 1]);
}

/** The median of each function's values (ns a packet, e.g. a kernel test run's mean), in interleaved rounds. */
export function medianInterleaved(fns, rounds = 7) {
  const per = fns.map(() => []);
  for (let r = 0; r < rounds; r++) fns.forEach((fn, i) => per[i].push(fn()));
  return per.map((v) => v.sort((a, b) => a - b)[rounds >> 1]);
}
