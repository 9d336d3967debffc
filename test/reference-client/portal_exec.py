#!/usr/bin/env python3
"""A reference client for the portal protocol v2, revision 2, written from
docs/protocol.md alone (Python 3 standard library only).

Usage: portal_exec.py [--fd N]... PROGRAM [ARGS...]

Connects to $PORTAL_NAME (else ./portal.sock) and runs PROGRAM ARGS with
this process's environment (without PORTAL_NAME), cwd and fds 0-2, plus
each --fd N at N. SIGHUP, SIGINT, SIGQUIT and SIGTERM go to the program's
process group (a signal that comes before the request is complete is sent
right after START).

Exits like the program: its exit code; killed by signal N: this process
dies by signal N too (re-raised, without a core dump), or exits 128+N if
signal N does not end a process. 127 if the program was not found, 126 if
it could not be executed, 125 if the portal failed (refused, protocol
error, spawner gone), with the reason on stderr.
"""
import os
import resource
import signal
import socket
import struct
import sys

MAGIC = b"\0portal\0"
ARGS, ENV, CWD, FDS, START, SIGNAL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
HELLO_ACK, STARTED, EXITED, SPAWN_FAILED, REFUSED = 0x81, 0x82, 0x83, 0x84, 0x85
MAX_PAYLOAD = 65536 - 8  # a record is at most 65,536 bytes with its 8-byte header
MAX_FDS_PER_RECORD = 253
ENOENT = 2  # Linux generic errno numbering, as on the wire
RELAYED = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM)


def fail(message, code=125):
    sys.stderr.write(f"portal_exec.py: {message}\n")
    sys.exit(code)


def record(kind, payload=b""):
    return struct.pack("<HHI", kind, 0, len(payload)) + payload


def send(sock, data, fds=()):
    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] if fds else []
    sock.sendmsg([data], rights)


def receive(sock):
    try:
        data = sock.recv(65536)  # replies carry no fds in revision 2
    except ConnectionResetError:
        data = sock.recv(65536)  # it closed with our records unread: said once, ahead of its replies
    if not data:
        fail("the spawner closed the connection without an answer")
    kind, reserved, length = struct.unpack_from("<HHI", data) if len(data) >= 8 else (0, 1, 0)
    if reserved != 0 or length != len(data) - 8:
        fail("malformed reply from the spawner")
    return kind, data[8:]


def final(kind, payload):
    """Ends this process as the spawner's final reply says."""
    if kind == EXITED:
        how, value, _core = struct.unpack("<3I", payload)
        if how == 1:
            sys.exit(value)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            signal.signal(value, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # SIGKILL and the like cannot be caught anyway
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [value])
        os.kill(os.getpid(), value)
        sys.exit(128 + value)  # still here: the signal does not end a process
    if kind == SPAWN_FAILED:
        stage, errno = struct.unpack_from("<2I", payload)
        fail(payload[8:].decode(errors="replace"), (127 if errno == ENOENT else 126) if stage == 1 else 125)
    if kind == REFUSED:
        fail(f"refused (code {struct.unpack_from('<I', payload)[0]}): {payload[4:].decode(errors='replace')}")
    fail(f"unexpected reply type 0x{kind:x}")


def main():
    argv, fds = sys.argv[1:], [0, 1, 2]
    while len(argv) >= 2 and argv[0] == "--fd":
        fds, argv = fds + [int(argv[1])], argv[2:]
    fds = [fd for fd in dict.fromkeys(fds) if is_open(fd)]
    args = [os.fsencode(a) for a in argv]
    env = [k + b"=" + v for k, v in os.environb.items() if k != b"PORTAL_NAME"]
    try:
        cwd = os.getcwdb()
    except OSError:
        cwd = None  # deleted: the program runs in the spawner's cwd
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sent, pending = [False], []

    def relay(sig, _frame):
        if not sent[0]:
            pending.append(sig)
            return
        try:
            send(sock, record(SIGNAL, struct.pack("<I", sig)))
        except OSError:
            pass  # the spawner is gone; its final reply (or EOF) says the rest

    for sig in RELAYED:
        signal.signal(sig, relay)
    try:
        sock.connect(os.environ.get("PORTAL_NAME") or "./portal.sock")
        sock.settimeout(3)  # a C exec-portal spawner never answers a HELLO
        send(sock, MAGIC + struct.pack("<2I", 2, 2))
        kind, payload = receive(sock)
        sock.settimeout(None)
    except socket.timeout:
        fail("no HELLO_ACK within 3 s: not a portal v2 spawner?")
    except OSError as error:
        fail(f"cannot talk to the spawner: {error}")
    if kind != HELLO_ACK:
        final(kind, payload)
    if len(payload) != 16 or struct.unpack_from("<I", payload)[0] != 2:
        fail("bad HELLO_ACK")
    try:
        for kind, stream in ((ARGS, b"".join(a + b"\0" for a in args)), (ENV, b"".join(e + b"\0" for e in env))):
            for at in range(0, len(stream), MAX_PAYLOAD):
                send(sock, record(kind, stream[at:at + MAX_PAYLOAD]))
        if cwd:
            send(sock, record(CWD, cwd))
        for at in range(0, len(fds), MAX_FDS_PER_RECORD):
            batch = fds[at:at + MAX_FDS_PER_RECORD]
            send(sock, record(FDS, struct.pack(f"<{len(batch)}I", *batch)), batch)
        send(sock, record(START, struct.pack("<4I", len(args), len(env), len(fds), 0)))
    except OSError:
        pass  # the spawner stopped reading: its REFUSED (or EOF) says why
    sent[0] = True
    for sig in pending:
        relay(sig, None)
    while True:
        kind, payload = receive(sock)
        if kind == STARTED:
            let_go_of(fds)
        else:
            final(kind, payload)


def is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def let_go_of(fds):
    """The program has its own copies now: ours must not keep its pipes open."""
    null = os.open("/dev/null", os.O_RDWR)
    for fd in fds:
        if fd in (0, 1):
            os.dup2(null, fd)
        elif fd > 2:
            os.close(fd)
    os.close(null)


if __name__ == "__main__":
    main()
