// What a handler sees of one client request, and the connection's side of it.
import type { OwnedFd } from "../libc/owned-fd.ts";
import type { PeerCredentials } from "../libc/socket.ts";
import type { Outcome } from "../protocol/outcome.ts";
import type { GrantSpec } from "../protocol/v2.ts";
import type { ProcessContext } from "../protocol/context.ts";
import type { PtyRequest } from "../protocol/pty.ts";
import { Refusal } from "./refusal.ts";

export { Refusal };

/** A file or directory the client opened and granted, to be bound at `dest` inside a sandbox. */
export interface Grant extends GrantSpec {
  fd: OwnedFd;
}

/** What a request carries, as read off the wire. Its fds belong to the connection's FdScope. */
export interface RequestFields {
  /** 1 (C exec-portal), 2 or 3 (the revision of v2 the client and spawner agreed on). */
  protocol: 1 | 2 | 3;
  args: Uint8Array[];
  env: Uint8Array[];
  cwd: Uint8Array | null;
  /** The client's cwd as a directory fd, for when its path cannot be entered here. */
  cwdFd: OwnedFd | null;
  fds: Map<number, OwnedFd>;
  grants: Grant[];
  /** What else the program inherits from its caller (umask, limits, signals); null from older clients. */
  context: ProcessContext | null;
  /** The client asks for a terminal; null for none. */
  pty: PtyRequest | null;
  peer: PeerCredentials;
  /** The peer's supplementary groups (empty unless the spawner needs them). */
  peerGroups: number[];
  /** A pidfd of the peer, or its mount namespace (only when the spawner needs it: --sandbox). */
  peerNamespace: OwnedFd | null;
}

/** How a handler talks back to its client while the program runs. */
export interface RequestReplies {
  started(pid: number): void;
  stopped(signal: number): void;
  ptyMaster(master: OwnedFd): void;
}

/**
 * Signals the client forwards, from the connection to whoever listens in the
 * handler. Signals that arrive before anyone listens (the client sent one
 * right behind START) are kept, a few, and handed to the first listener.
 */
/**
 * A forwarded signal's listener: `group` false sends it to the program
 * alone; `background` (a SIGCONT for a program on a terminal) continues it
 * without its terminal's foreground, as `bg` would.
 */
export type SignalListener = (signal: number, group: boolean, background: boolean) => void;

export class SignalHub {
  static readonly MAX_EARLY = 64;
  readonly #listeners: SignalListener[] = [];
  readonly #early: Array<[number, boolean, boolean]> = [];

  listen(listener: SignalListener): void {
    this.#listeners.push(listener);
    for (const [signal, group, background] of this.#early.splice(0)) listener(signal, group, background);
  }

  emit(signal: number, group: boolean, background = false): void {
    if (this.#listeners.length === 0) {
      if (this.#early.length < SignalHub.MAX_EARLY) this.#early.push([signal, group, background]);
      return;
    }
    for (const listener of this.#listeners) listener(signal, group, background);
  }
}

export class PortalRequest {
  readonly #signals: SignalHub;
  readonly #disconnect: AbortSignal;
  readonly #replies: RequestReplies;

  /** Which protocol the client spoke: 1 (C exec-portal), 2 or 3 (revisions of v2). */
  readonly protocol: 1 | 2 | 3;
  /** The client's arguments, as bytes (the spawner's own PROGRAM is not included). */
  readonly args: readonly Uint8Array[];
  /** The client's environment entries, "KEY=VALUE" as bytes. */
  readonly env: readonly Uint8Array[];
  /** The client's working directory; null for protocol v1, which does not send one. */
  readonly cwd: Uint8Array | null;
  /** The same directory as an fd (revision 3), for when `cwd` does not resolve here. Closed after the handler. */
  readonly cwdFd: OwnedFd | null;
  /** Received fds by their target number. Whatever the handler does not take() is closed after it. */
  readonly fds: Map<number, OwnedFd>;
  readonly peer: PeerCredentials;
  readonly peerGroups: readonly number[];
  /** (--sandbox) A pidfd of the peer, or its mount namespace: where the objects it granted live. Closed after the handler. */
  readonly peerNamespace: OwnedFd | null;
  /** Objects the client granted for a sandbox (GRANT records). Closed after the handler, like `fds`. */
  readonly grants: readonly Grant[];
  readonly context: ProcessContext | null;
  readonly pty: PtyRequest | null;

  /** Made by the connection (createRequest); handlers receive it. */
  constructor(fields: RequestFields, replies: RequestReplies, disconnect: AbortSignal, signals: SignalHub) {
    this.protocol = fields.protocol;
    this.args = fields.args;
    this.env = fields.env;
    this.cwd = fields.cwd;
    this.cwdFd = fields.cwdFd;
    this.fds = fields.fds;
    this.peer = fields.peer;
    this.peerGroups = fields.peerGroups;
    this.peerNamespace = fields.peerNamespace;
    this.grants = fields.grants;
    this.context = fields.context;
    this.pty = fields.pty;
    this.#replies = replies;
    this.#disconnect = disconnect;
    this.#signals = signals;
  }

  /** Aborted when the client hangs up (or breaks the protocol) before an outcome was sent. */
  get disconnected(): AbortSignal {
    return this.#disconnect;
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

  /** Signals the client forwards while the handler runs (v2): to the program's group, or (`group` false) to it alone. */
  onSignal(listener: SignalListener): void {
    this.#signals.listen(listener);
  }

  /** Tells the client the program's pid (v2 STARTED record). */
  started(pid: number): void {
    this.#replies.started(pid);
  }

  /** Tells the client the program was stopped by `signal` (revision 3 STOPPED), so it stops itself too. */
  stopped(signal: number): void {
    this.#replies.stopped(signal);
  }

  /** Hands the pty's master side to the client (revision 3 PTY_MASTER); `master` stays the caller's to close. */
  sendPtyMaster(master: OwnedFd): void {
    this.#replies.ptyMaster(master);
  }
}

/** The connection's handle on a request: it feeds signals and the hang-up in. */
export interface RequestController {
  request: PortalRequest;
  signal(signal: number, group: boolean, background?: boolean): void;
  disconnect(reason: string): void;
}

export function createRequest(fields: RequestFields, replies: RequestReplies): RequestController {
  const abort = new AbortController();
  const signals = new SignalHub();
  return {
    request: new PortalRequest(fields, replies, abort.signal, signals),
    signal: (signal, group, background) => signals.emit(signal, group, background),
    disconnect(reason) {
      if (!abort.signal.aborted) abort.abort(new Error(reason));
    },
  };
}

/** What a handler answers: an outcome, or just an exit code. */
export type HandlerResult = Outcome | number;

export type Handler = (request: PortalRequest) => HandlerResult | Promise<HandlerResult>;
