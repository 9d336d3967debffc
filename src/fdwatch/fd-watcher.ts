// Waiting for an fd to become ready without blocking the JS thread.
//
// Bun cannot watch an arbitrary fd, and its own stream readers use plain
// read(2), which would drop passed fds. So one Worker thread blocks in poll(2)
// and posts readiness back (docs/event-loop.md has the measurements and the
// alternatives). Watches are one-shot: callers try their non-blocking call
// first and only wait when it says "again", so a stale or spurious wake-up
// costs one extra EAGAIN and is never wrong.
// MessageChannel is the global one (the same class): a bundle hoists a
// node:worker_threads import to its top, and loading that module costs a
// client that never starts the watcher ~4 ms.
import type { MessagePort } from "node:worker_threads";
import { onFdClose, type OwnedFd } from "../libc/owned-fd.ts";
import { eventFd, writeFrom } from "../libc/file.ts";
import { POLLIN, POLLOUT } from "../libc/constants.ts";
import type { WatcherCommand, WatcherEvent } from "./fd-watcher-worker.ts";

export class WatchCancelled extends Error {
  constructor(fd: number) {
    super(`wait for fd ${fd} was cancelled`);
    this.name = "WatchCancelled";
  }
}

interface Pending {
  id: number;
  resolve: (revents: number) => void;
  reject: (error: Error) => void;
}

const ONE = new Uint8Array(new BigUint64Array([1n]).buffer);

export class FdWatcher {
  static #shared: FdWatcher | null = null;

  /** The process-wide watcher, started on first use. */
  static shared(): FdWatcher {
    FdWatcher.#shared ??= new FdWatcher();
    return FdWatcher.#shared;
  }

  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #wake: OwnedFd;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #referenced = false;
  #failure: Error | null = null;
  #started!: () => void;
  /**
   * Resolves once the thread runs with all its code loaded: from then on the
   * watcher needs no file (a sandbox's init waits for it before it leaves
   * the root the code lives in).
   */
  readonly ready = new Promise<void>((resolve) => (this.#started = resolve));

  private constructor() {
    this.#wake = eventFd();
    // A wait must never outlive its fd: the number could be reused by the
    // next socket while the poll thread still watches it.
    onFdClose((fd) => this.cancel(fd));
    const channel = new MessageChannel();
    this.#port = channel.port1;
    // smol: the poll thread only runs a loop of FFI calls; a small heap saves ~RSS.
    this.#worker = new Worker(workerUrl(), { smol: true } as WorkerOptions);
    this.#worker.onmessage = (event: MessageEvent<WatcherEvent[] | string>) => {
      if (event.data === "ready") this.#started();
      if (typeof event.data === "string") return;
      for (const ready of event.data) this.#settle(ready);
    };
    // Without its thread nothing would ever wake again: fail every wait, now and later.
    this.#worker.onerror = (event: ErrorEvent) => {
      this.#failure = new Error(`the fd watcher thread failed: ${event.message}`);
      const pending = [...this.#pending.values()];
      this.#pending.clear();
      this.#updateRef();
      for (const wait of pending) wait.reject(this.#failure);
      this.#started();
    };
    this.#worker.postMessage({ port: channel.port2, wakeFd: this.#wake.fd }, [channel.port2 as never]);
    this.#worker.unref();
  }

  /** Resolves with poll's revents once `fd` is readable (or hung up, or in error). */
  readable(fd: number): Promise<number> {
    return this.#watch(fd, POLLIN);
  }

  /** Resolves with poll's revents once `fd` has room to write (or hung up, or in error). */
  writable(fd: number): Promise<number> {
    return this.#watch(fd, POLLOUT);
  }

  /** Rejects a pending wait on `fd` with WatchCancelled (closing an OwnedFd does this by itself). */
  cancel(fd: number): void {
    const pending = this.#pending.get(fd);
    if (!pending) return;
    this.#pending.delete(fd);
    this.#send({ op: "cancel", fd, id: pending.id });
    this.#updateRef();
    pending.reject(new WatchCancelled(fd));
  }

  #watch(fd: number, events: number): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#pending.has(fd)) return Promise.reject(new Error(`fd ${fd} is already being waited on`));
    const id = this.#nextId++;
    const promise = new Promise<number>((resolve, reject) => this.#pending.set(fd, { id, resolve, reject }));
    // A wait its caller gave up on (it raced a timeout) may still be cancelled
    // when the fd closes: that rejection is expected, not unhandled.
    promise.catch(() => {});
    this.#send({ op: "watch", fd, events, id });
    this.#updateRef();
    return promise;
  }

  #settle(ready: WatcherEvent): void {
    const pending = this.#pending.get(ready.fd);
    // A readiness report for a watch that was cancelled (and maybe re-armed
    // for a new fd with the same number) is stale: drop it.
    if (!pending || pending.id !== ready.id) return;
    this.#pending.delete(ready.fd);
    this.#updateRef();
    pending.resolve(ready.revents);
  }

  #send(command: WatcherCommand): void {
    this.#port.postMessage(command);
    writeFrom(this.#wake.fd, ONE);
  }

  // The worker keeps the process alive only while someone waits on it.
  #updateRef(): void {
    const want = this.#pending.size > 0;
    if (want === this.#referenced) return;
    this.#referenced = want;
    if (want) this.#worker.ref();
    else this.#worker.unref();
  }
}

/**
 * In a `bun build --compile` executable every module's import.meta.url is the
 * executable's own (file:///$bunfs/root/NAME), and the worker, built as an
 * extra entrypoint with `--root src`, sits at its path below src/.
 */
function workerUrl(): string {
  const compiledRoot = "file:///$bunfs/root/";
  if (import.meta.url.startsWith(compiledRoot)) return `${compiledRoot}fdwatch/fd-watcher-worker.ts`;
  return new URL("./fd-watcher-worker.ts", import.meta.url).href;
}
