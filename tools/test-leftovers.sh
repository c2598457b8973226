#!/usr/bin/env bash
# Ends what a Swift test run that died left behind: the processes it started (each left
# its PID in a file), its PostgreSQL folders, and the network namespaces of its
# NetworkLab (named svlab<test PID>-..., removed only once that test process is gone).
tmp=${TMPDIR:-/tmp}
for f in "$tmp"/verse-etcd-*.pid "$tmp"/verse-proc-*.pid; do
	[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	rm -f "$f"
done
rm -rf /tmp/verse-pg-*
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^svlab[0-9]*-'); do
	pid=${ns#svlab}; pid=${pid%%-*}
	kill -0 "$pid" 2>/dev/null || ip netns del "$ns"
done
exit 0
