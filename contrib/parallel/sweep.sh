#!/usr/bin/env bash
# contrib/parallel/sweep.sh - one shard of a sweep per host, over ssh, with GNU parallel.
#
#   contrib/parallel/sweep.sh hosts.txt targets.txt 'jarmsweep options...'
#
# hosts.txt lists ssh destinations, one per line; each runs `jarmsweep --shard i/N` with the
# same seed and its own checkpoint, so the N hosts scan disjoint parts whose union is the
# whole sweep. Run it again after an interruption: every shard resumes where it stopped.
# Results come back to results/shard-i.ndjson. Needs jarmsweep installed on every host.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 HOSTS TARGETS [JARMSWEEP OPTIONS]" >&2; exit 2; }
hosts=$1
targets=$2
opts=${3:-"-c 5000 -t 5 -p 443"}
seed=${SEED:-$(od -An -N6 -tu8 /dev/urandom | tr -d ' ')}
n=$(grep -cv '^[[:space:]]*$' "$hosts")
mkdir -p results
echo "sweep: $n shards, seed $seed" >&2

grep -v '^[[:space:]]*$' "$hosts" | nl -v0 -w1 -s' ' |
    parallel --colsep ' ' --jobs "$n" --line-buffer --tag \
        "scp -q '$targets' {2}:jarmsweep-targets.txt &&
         ssh {2} jarmsweep -q $opts --seed $seed --shard {1}/$n \
             --resume jarmsweep-shard-{1}.resume -o jarmsweep-shard-{1}.ndjson \
             -i jarmsweep-targets.txt &&
         scp -q {2}:jarmsweep-shard-{1}.ndjson results/shard-{1}.ndjson"
