// Slots for running programs. Over --max-children, complete requests wait in
// arrival order until a slot frees, up to --max-queue of them; past that they
// are refused with the reason. One uid holds at most --max-children-per-uid
// of the slots (root is not counted), so the rest stay for the others: a
// request of a uid at its share waits, and a later request of another uid
// takes a free slot before it. Of the queue, one uid may fill all but an
// eighth (at least one place), so another uid can still wait its turn. A
// waiting request whose client goes away leaves the queue at once.
import { limitRefusal, Refusal, RefusalCode } from "./refusal.ts";

interface Waiter {
  uid: number;
  grant: (release: () => void) => void;
  refuse: (refusal: Refusal) => void;
}

/** One uid's share of `total` run slots or queue places: all but an eighth (at least one) kept for the others; one of one. */
export function oneUidsShare(total: number): number {
  return Math.max(1, total - Math.max(1, Math.floor(total / 8)));
}

export class RunQueue {
  readonly #waiting: Waiter[] = [];
  readonly #runningBy = new Map<number, number>();
  #running = 0;
  #closed: string | null = null;

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
    readonly maxRunningPerUid = oneUidsShare(maxRunning),
  ) {}

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /** Whether a request of `uid` would wait now. */
  mustWait(uid: number): boolean {
    return !this.#mayRun(uid);
  }

  /**
   * Resolves with the slot's release function once the request of `uid` may
   * run; rejects with a Refusal when the queue is full (or closed), or with
   * the abort reason once `cancel` aborts while still waiting.
   */
  acquire(cancel: AbortSignal, uid: number): Promise<() => void> {
    if (this.#closed) return Promise.reject(new Refusal(this.#closed, { code: RefusalCode.Unavailable }));
    // Whenever a slot is free, no waiter that may run is left waiting (#dispatch): none is passed over.
    if (this.#mayRun(uid)) return Promise.resolve(this.#take(uid));
    const refusal = this.#whyNotWait(uid);
    if (refusal) return Promise.reject(limitRefusal(refusal));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { uid, grant: resolve, refuse: reject };
      this.#waiting.push(waiter);
      cancel.addEventListener(
        "abort",
        () => {
          const at = this.#waiting.indexOf(waiter);
          if (at < 0) return;
          this.#waiting.splice(at, 1);
          reject(cancel.reason);
        },
        { once: true },
      );
    });
  }

  /** Refuses every waiting request and every later one (shutdown). */
  close(reason: string): void {
    this.#closed = reason;
    for (const waiter of this.#waiting.splice(0)) waiter.refuse(new Refusal(reason, { code: RefusalCode.Unavailable }));
  }

  /** Why a request of `uid` may not wait either (the queue, or this uid's share of it, is full), or null. */
  #whyNotWait(uid: number): string | null {
    const mine = uid === 0 ? 0 : this.#waiting.filter((waiter) => waiter.uid === uid).length;
    const shareFull = uid !== 0 && mine >= oneUidsShare(this.maxWaiting) && this.maxWaiting > 1;
    if (this.#waiting.length < this.maxWaiting && !shareFull) return null;
    if (this.#running >= this.maxRunning && !shareFull) {
      return `busy: ${this.#running} programs are running and ${this.#waiting.length} requests are waiting (the spawner's --max-children ${this.maxRunning}, --max-queue ${this.maxWaiting})`;
    }
    const running = this.#runningBy.get(uid) ?? 0;
    const why = this.#running < this.maxRunning
      ? `uid ${uid} has ${running} programs running, its share (the spawner's --max-children-per-uid ${this.maxRunningPerUid})`
      : `${this.#running} programs are running (the spawner's --max-children ${this.maxRunning})`;
    const queue = shareFull
      ? `${mine} of its requests are waiting, its share of the spawner's --max-queue ${this.maxWaiting}`
      : `${this.#waiting.length} requests are waiting (the spawner's --max-queue ${this.maxWaiting})`;
    return `busy: ${why}, and ${queue}`;
  }

  #mayRun(uid: number): boolean {
    return this.#running < this.maxRunning && (uid === 0 || (this.#runningBy.get(uid) ?? 0) < this.maxRunningPerUid);
  }

  #take(uid: number): () => void {
    this.#running++;
    this.#runningBy.set(uid, (this.#runningBy.get(uid) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const left = this.#runningBy.get(uid)! - 1;
      if (left === 0) this.#runningBy.delete(uid);
      else this.#runningBy.set(uid, left);
      this.#dispatch();
    };
  }

  /** Hands free slots to the first waiters, in arrival order, that may run. */
  #dispatch(): void {
    for (let i = 0; i < this.#waiting.length && this.#running < this.maxRunning; ) {
      const waiter = this.#waiting[i]!;
      if (!this.#mayRun(waiter.uid)) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      waiter.grant(this.#take(waiter.uid));
    }
  }
}
