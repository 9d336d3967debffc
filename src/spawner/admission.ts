// Who gets a connection at all, decided at accept() from the kernel's peer
// credentials: the access policy, the connection cap, and a per-uid cap so
// that one uid cannot starve the others. A refused peer is closed at once
// (see refuse-at-accept.ts); nothing it sends is read or kept.
import type { PeerCredentials } from "../libc/socket.ts";
import { checkPeer, type AccessPolicy } from "./access-policy.ts";
import { limitRefusal, Refusal } from "./refusal.ts";

export interface AdmissionLimits {
  /** Connections open at once (being read, waiting for a slot, running). */
  maxConnections: number;
  /** Connections one uid may have open at once; root is not counted against it. */
  maxConnectionsPerUid: number;
}

/** One admitted connection; release() when it ends. */
export interface Admitted {
  release(): void;
}

export class Admission {
  readonly #perUid = new Map<number, number>();
  #open = 0;

  constructor(
    private readonly policy: AccessPolicy,
    private readonly limits: AdmissionLimits,
  ) {}

  get open(): number {
    return this.#open;
  }

  admit(peer: PeerCredentials): Admitted | Refusal {
    const denied = checkPeer(this.policy, peer);
    if (denied) return new Refusal(denied);
    if (this.#open >= this.limits.maxConnections) {
      return limitRefusal(`busy: ${this.limits.maxConnections} connections are open (the spawner's --max-connections)`);
    }
    const mine = this.#perUid.get(peer.uid) ?? 0;
    if (peer.uid !== 0 && mine >= this.limits.maxConnectionsPerUid) {
      return limitRefusal(`uid ${peer.uid} has ${mine} connections open (the spawner's --max-connections-per-uid)`);
    }
    this.#open++;
    this.#perUid.set(peer.uid, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#open--;
        const left = (this.#perUid.get(peer.uid) ?? 1) - 1;
        if (left > 0) this.#perUid.set(peer.uid, left);
        else this.#perUid.delete(peer.uid);
      },
    };
  }
}
