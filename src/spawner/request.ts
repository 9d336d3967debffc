// What a handler sees of one client request.
import type { OwnedFd } from "../libc/owned-fd.ts";
import type { PeerCredentials } from "../fdpass/seqpacket.ts";
import type { Outcome } from "../protocol/outcome.ts";
import type { GrantSpec } from "../protocol/v2.ts";

export class PortalRequest {
  readonly #signalListeners: Array<(signal: number) => void> = [];
  readonly #disconnect = new AbortController();
  #startedPid: number | null = null;
  #onStarted: (pid: number) => void = () => {};

  constructor(
    /** Which protocol the client spoke: 1 (C exec-portal) or 2. */
    readonly protocol: 1 | 2,
    /** The client's arguments, as bytes (the spawner's own PROGRAM is not included). */
    readonly args: readonly Uint8Array[],
    /** The client's environment entries, "KEY=VALUE" as bytes. */
    readonly env: readonly Uint8Array[],
    /** The client's working directory; null for protocol v1, which does not send one. */
    readonly cwd: Uint8Array | null,
    /** Received fds by their target number. Whatever the handler does not take() is closed after it. */
    readonly fds: Map<number, OwnedFd>,
    readonly peer: PeerCredentials,
    /** Objects the client granted for a sandbox (GRANT records). Closed after the handler, like `fds`. */
    readonly grants: readonly Grant[] = [],
  ) {}

  /** Aborted when the client hangs up (or breaks the protocol) before an outcome was sent. */
  get disconnected(): AbortSignal {
    return this.#disconnect.signal;
  }

  /** The arguments decoded as UTF-8, for display and for handlers that want strings. */
  argStrings(): string[] {
    return this.args.map((a) => new TextDecoder().decode(a));
  }

  /** A variable of the client's environment, decoded as UTF-8. */
  getenv(name: string): string | undefined {
    const prefix = `${name}=`;
    for (const entry of this.env) {
      const text = new TextDecoder().decode(entry);
      if (text.startsWith(prefix)) return text.slice(prefix.length);
    }
    return undefined;
  }

  /** The raw fd number received for client fd `target`, or undefined. Ownership stays with the request. */
  fd(target: number): number | undefined {
    return this.fds.get(target)?.fd;
  }

  /** Signals the client forwards while the handler runs (protocol v2). */
  onSignal(listener: (signal: number) => void): void {
    this.#signalListeners.push(listener);
  }

  /** Tells the client the program's pid (protocol v2 STARTED record). */
  started(pid: number): void {
    this.#startedPid = pid;
    this.#onStarted(pid);
  }

  get startedPid(): number | null {
    return this.#startedPid;
  }

  /** @internal wiring used by the connection */
  _wire(onStarted: (pid: number) => void): void {
    this.#onStarted = onStarted;
  }

  /** @internal */
  _signal(signal: number): void {
    for (const listener of this.#signalListeners) listener(signal);
  }

  /** @internal */
  _disconnect(reason: string): void {
    if (!this.#disconnect.signal.aborted) this.#disconnect.abort(new Error(reason));
  }
}

/** A file or directory the client opened and granted, to be bound at `dest` inside a sandbox. */
export interface Grant extends GrantSpec {
  fd: OwnedFd;
}

/** What a handler answers: an outcome, or just an exit code. */
export type HandlerResult = Outcome | number;

export type Handler = (request: PortalRequest) => HandlerResult | Promise<HandlerResult>;

/** Thrown by a handler (or the spawner) to refuse a request with a reason the client will print. */
export class Refusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Refusal";
  }
}
