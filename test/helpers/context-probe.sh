#!/bin/sh
# Prints what this process inherited, for the transparency tests, which run
# it directly and through the portal and compare. Builtins read /proc/self
# (a redirected loop runs in this shell: /proc/self is the program itself).
while IFS=': 	' read -r key value; do
  case $key in SigIgn|SigBlk|Cpus_allowed_list) echo "$key $value" ;; esac
done </proc/self/status
# Scheduling: nice (field 19 of stat), real-time priority and policy (40, 41),
# after the command name, which may hold spaces; then the I/O priority, the
# OOM score adjustment and the personality.
read -r stat </proc/self/stat
set -- ${stat##*) }
echo "nice ${17} rt_priority ${38} policy ${39}"
echo "ionice $(ionice -p $$)"
read -r value </proc/self/oom_score_adj; echo "oom_score_adj $value"
read -r value </proc/self/personality; echo "personality $value"
echo "umask $(umask)"
while read -r line; do echo "limit $line"; done </proc/self/limits
if [ "${LISTEN_PID-unset}" = "$$" ]; then echo "LISTEN_PID self"; else echo "LISTEN_PID ${LISTEN_PID-unset}"; fi
echo "LISTEN_FDS ${LISTEN_FDS-unset} LISTEN_FDNAMES ${LISTEN_FDNAMES-unset}"
for f in /proc/$$/fd/*; do echo "fd ${f##*/}"; done
echo "cwd $(pwd -P 2>&1)"
# The spawner adds PORTAL_PEER_* on purpose (docs/operations.md); LISTEN_PID is above.
env | grep -v -e '^PORTAL_PEER_' -e '^LISTEN_PID=' | sort | sed 's/^/env /'
