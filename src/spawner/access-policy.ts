// Who may use the spawner (by the kernel's peer credentials), and which of
// the client's environment variables reach the program.
import type { PeerCredentials } from "../fdpass/seqpacket.ts";

export interface AccessPolicy {
  /** Allowed uids. Root (0) and the spawner's own uid are always allowed when this is the default. */
  uids: ReadonlySet<number>;
  /** Allowed primary gids of the peer. */
  gids: ReadonlySet<number>;
}

export function defaultAccessPolicy(): AccessPolicy {
  return { uids: new Set([0, process.getuid?.() ?? 0]), gids: new Set() };
}

/** null if allowed, else the reason the peer is refused. */
export function checkPeer(policy: AccessPolicy, peer: PeerCredentials): string | null {
  if (policy.uids.has(peer.uid) || policy.gids.has(peer.gid)) return null;
  return `uid ${peer.uid} (gid ${peer.gid}) is not allowed`;
}

/**
 * Shell-style patterns (`*` and `?`) for variable names. With allow patterns
 * only matching variables pass; deny patterns then remove matches.
 */
export interface EnvPolicy {
  allow: readonly string[];
  deny: readonly string[];
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`);
}

export function compileEnvPolicy(policy: EnvPolicy): (name: string) => boolean {
  const allow = policy.allow.map(patternToRegExp);
  const deny = policy.deny.map(patternToRegExp);
  return (name) => (allow.length === 0 || allow.some((r) => r.test(name))) && !deny.some((r) => r.test(name));
}

const encoder = new TextEncoder();
/** Variables the spawner sets itself: a client can never supply them. */
const PEER_PREFIX = encoder.encode("PORTAL_PEER_");

function nameOf(entry: Uint8Array): string {
  const eq = entry.indexOf(0x3d);
  return new TextDecoder().decode(eq < 0 ? entry : entry.subarray(0, eq));
}

/** The program's environment: the client's, filtered, plus PORTAL_PEER_PID/UID/GID. */
export function programEnvironment(env: readonly Uint8Array[], peer: PeerCredentials, keep: (name: string) => boolean): Uint8Array[] {
  const out = env.filter((entry) => !PEER_PREFIX.every((b, i) => entry[i] === b) && keep(nameOf(entry)));
  out.push(
    encoder.encode(`PORTAL_PEER_PID=${peer.pid}`),
    encoder.encode(`PORTAL_PEER_UID=${peer.uid}`),
    encoder.encode(`PORTAL_PEER_GID=${peer.gid}`),
  );
  return out;
}
