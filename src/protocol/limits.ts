// Every protocol limit as a named constant (docs/protocol.md refers to these).

/** Largest v2 record, header included. Small enough to fit any socket buffer. */
export const MAX_RECORD_BYTES = 64 * 1024;
/** v2 record header: u16 type, u16 reserved (0), u32 payload length. */
export const HEADER_BYTES = 8;
/** The kernel's SCM_MAX_FD: fds per message. */
export const MAX_FDS_PER_RECORD = 253;
/** Default ceiling on argv + env + cwd bytes of one request. */
export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024;
/** Default ceiling on fds in one request. */
export const DEFAULT_MAX_FDS = 4096;
/** Highest fd number a request may target (the child must be able to hold it). */
export const MAX_TARGET_FD = 1 << 20;
/** Longest cwd accepted (Linux PATH_MAX). */
export const MAX_CWD_BYTES = 4096;
/** Longest reason text in REFUSED and message in SPAWN_FAILED; longer ones are cut with "...". */
export const MAX_MESSAGE_BYTES = 4000;
/** Longest CONTEXT payload: the fixed part plus one entry per resource limit. */
export const MAX_CONTEXT_BYTES = 32 + 24 * 64;

/** v1: the C client keeps its whole environment record below this. */
export const V1_MAX_RECORD_BYTES = 65536;
/** v1: the C client probes fds 0..255. */
export const V1_MAX_FDS = 256;
