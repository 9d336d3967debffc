// A small deterministic random source (mulberry32), so a failing generated
// case can be rebuilt from its seed alone.
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= n < `below`. */
  int(below: number): number {
    return below <= 0 ? 0 : this.u32() % below;
  }

  /** `from` <= n <= `to`. */
  range(from: number, to: number): number {
    return from + this.int(to - from + 1);
  }

  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A printable token without NUL or '=' (for argv and variable names). */
  word(maxLength = 12): string {
    const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./ ";
    let out = "";
    for (let i = this.range(1, maxLength); i > 0; i--) out += alphabet[this.int(alphabet.length)];
    return out;
  }
}

/** The seed of case `index` under `master`: independent of every other case. */
export function caseSeed(master: number, index: number): number {
  const r = new SeededRandom((master ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0);
  r.u32();
  return r.u32();
}
