#!/bin/sh
# Prints what this process inherited, for the transparency tests, which run
# it directly and through the portal and compare. Builtins read /proc/self
# (a redirected loop runs in this shell: /proc/self is the program itself).
while IFS=': 	' read -r key value; do
  case $key in SigIgn|SigBlk) echo "$key $value" ;; esac
done </proc/self/status
echo "umask $(umask)"
while read -r line; do echo "limit $line"; done </proc/self/limits
if [ "${LISTEN_PID-unset}" = "$$" ]; then echo "LISTEN_PID self"; else echo "LISTEN_PID ${LISTEN_PID-unset}"; fi
echo "LISTEN_FDS ${LISTEN_FDS-unset} LISTEN_FDNAMES ${LISTEN_FDNAMES-unset}"
for f in /proc/$$/fd/*; do echo "fd ${f##*/}"; done
echo "cwd $(pwd -P 2>&1)"
# The spawner adds PORTAL_PEER_* on purpose (docs/operations.md); LISTEN_PID is above.
env | grep -v -e '^PORTAL_PEER_' -e '^LISTEN_PID=' | sort | sed 's/^/env /'
