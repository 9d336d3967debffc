// Slots for running programs. Over --max-children, complete requests wait in
// arrival order until a slot frees, up to --max-queue of them; past that they
// are refused with the reason. A waiting request whose client goes away
// leaves the queue at once.
import { limitRefusal, Refusal, RefusalCode } from "./refusal.ts";

interface Waiter {
  grant: (release: () => void) => void;
  refuse: (refusal: Refusal) => void;
}

export class RunQueue {
  readonly #waiting: Waiter[] = [];
  #running = 0;
  #closed: string | null = null;

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
  ) {}

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves with the slot's release function once the request may run;
   * rejects with a Refusal when the queue is full (or closed), or with the
   * abort reason once `cancel` aborts while still waiting.
   */
  acquire(cancel: AbortSignal): Promise<() => void> {
    if (this.#closed) return Promise.reject(new Refusal(this.#closed, { code: RefusalCode.Unavailable }));
    if (this.#running < this.maxRunning && this.#waiting.length === 0) return Promise.resolve(this.#take());
    if (this.#waiting.length >= this.maxWaiting) {
      return Promise.reject(
        limitRefusal(`busy: ${this.#running} programs are running and ${this.#waiting.length} requests are waiting (the spawner's --max-children ${this.maxRunning}, --max-queue ${this.maxWaiting})`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, refuse: reject };
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

  #take(): () => void {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const next = this.#waiting.shift();
      if (next) next.grant(this.#take());
    };
  }
}
