// pola-run's grants as GRANT records (docs/overlay.md has the table):
//   -f PATH     PATH at PATH. Links in its directories are granted as links
//               and followed; a link at its end is granted as a link only,
//               or, with `l`, as a link and what it leads to.
//   -t DEST SRC SRC at DEST, DEST's directories made as directories (the
//               spawner refuses a granted link among them). A link at SRC's
//               end is granted as a link at DEST; with `l`, what it leads to.
//   -B, --net, --x11: the endowments of pola-run's manual, as -fl options,
//               those that exist here, before every other grant.
// `w` -> writable, `,objrw` -> objectWritable, `,socket` -> socket, `s`
// changes nothing (any writable grant lets the program make links).
import { lstatSync } from "node:fs";
import { PortalError } from "../client/errors.ts";
import type { GrantInput } from "../client/grants.ts";
import { shown, type PolaGrantOption, type PolaRunPlan } from "./pola-run-options.ts";
import { walkLinks } from "./pola-run-links.ts";

/** -B: pola-run's /usr, /bin, /lib, and /lib64 where the loader lives. /dev/null and /dev/tty are in every sandbox. */
const STANDARD = ["/usr", "/bin", "/lib", "/lib64"];
const NET = ["/etc/resolv.conf", "/etc/hosts", "/etc/services"];
const X11_SOCKETS = "/tmp/.X11-unix";

/** One grant to send, and whether it mirrors the caller's own tree at the same place (-f). */
interface Planned extends GrantInput {
  path: string;
  dest: string;
  mirrored: boolean;
}

/** The GRANT inputs for `plan`, in the order the sandbox is built. */
export function polaRunGrants(plan: PolaRunPlan, env: { home?: string }): GrantInput[] {
  const out: Planned[] = [];
  const plain = { addArg: false, writable: false, follow: true, symlinks: false, objectWritable: false, socket: false };
  const endowment = (path: string, extra: Partial<PolaGrantOption> = {}) => {
    if (exists(path)) addMirrored(out, { option: "f", ...plain, ...extra, source: path, dest: path });
  };
  if (plan.standard) for (const path of STANDARD) endowment(path);
  if (plan.net) for (const path of NET) endowment(path);
  if (plan.x11) {
    endowment(X11_SOCKETS, { socket: true });
    if (env.home?.startsWith("/")) endowment(`${env.home.replace(/\/+$/, "")}/.Xauthority`);
  }
  for (const grant of plan.grants) {
    if (grant.option === "f") addMirrored(out, grant);
    else add(out, { ...access(grant), path: grant.source, dest: grant.dest, mirrored: false, symlink: !grant.follow && isLink(grant.source) });
  }
  return out.map(({ path, dest, mirrored: _, ...rest }) => ({ ...rest, path: Buffer.from(path, "latin1"), dest: Buffer.from(dest, "latin1") }));
}

/** -f: each link on the way at its own place, then the object at its real place. */
function addMirrored(out: Planned[], grant: PolaGrantOption): void {
  const walk = walkLinks(grant.source, grant.follow);
  for (const link of walk.links) add(out, { path: link, dest: link, symlink: true, mirrored: true });
  if (walk.objectIsLink) add(out, { path: walk.object, dest: walk.object, symlink: true, mirrored: true });
  else add(out, { ...access(grant), path: walk.object, dest: walk.object, mirrored: true });
}

function access(grant: PolaGrantOption): Pick<GrantInput, "writable" | "objectWritable" | "socket"> {
  return { writable: grant.writable, objectWritable: grant.objectWritable, socket: grant.socket };
}

/**
 * Adds a grant unless an earlier one already gives it: the same link, or a
 * mirrored directory that holds it (then the program sees the same object
 * there) with at least the access asked. The same object asked for twice
 * gets the wider access; anything else twice at one place is an error.
 */
function add(out: Planned[], grant: Planned): void {
  const same = out.find((g) => g.dest === grant.dest);
  if (same) {
    if (same.symlink && grant.symlink && same.path === grant.path) return;
    if (!same.symlink && !grant.symlink && same.path === grant.path) {
      same.writable ||= grant.writable;
      same.objectWritable ||= grant.objectWritable;
      same.socket ||= grant.socket;
      return;
    }
    throw new PortalError("usage", `'${shown(grant.dest)}' is granted twice, as different things`);
  }
  const plain = !grant.writable && !grant.objectWritable && !grant.socket;
  const covered = grant.mirrored && out.some((g) => g.mirrored && !g.symlink && grant.dest.startsWith(`${g.dest}/`) && (plain || (g.writable && !grant.objectWritable && !grant.socket)));
  if (!covered) out.push(grant);
}

function exists(path: string): boolean {
  try {
    lstatSync(Buffer.from(path, "latin1"));
    return true;
  } catch {
    return false;
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(Buffer.from(path, "latin1")).isSymbolicLink();
  } catch {
    // Missing: opening it says so, with the path.
    return false;
  }
}
