#!/usr/bin/env bash
# Every benchmark of issue #8, one after another (the machine has 2 cores: never in parallel).
# Exits non-zero only when a benchmark fails; a missed target is printed, not an error.
# Budget: about 40 minutes on the machine in bench/README.md (program_cost.py takes about 25).
# Run: bench/run_all.sh [PYTHON]   (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-.venv/bin/python}"
started=$(date +%s)

echo "== machine"
echo "nproc: $(nproc)"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "python: $("$python" -V 2>&1)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"

run() {
    local script=$1
    shift
    local begin
    begin=$(date +%s)
    echo
    echo "== bench/$script $*"
    "$python" "bench/$script" "$@"
    echo "($(($(date +%s) - begin)) s)"
}

run program_cost.py --repeats 3
run policy_scaling.py --repeats 7
run handler_overhead.py --imports 7 --blocks 25 --calls 200
run package_size.py
run client_overhead.py --calls 1000 --rounds 7
run batch_throughput.py --blocks 15 --messages 2000
run cold_start.py --starts 9

echo
echo "== total: $(($(date +%s) - started)) s"
