// A small seeded pseudo-random generator (mulberry32) for everything that must be "random" yet
// the same on every run and machine: generated benchmark services and traffic, property and
// fuzz tests whose failures must replay from their seed. Not for anything secret.

/** Numbers in [0, 1), the same sequence for the same seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
