#!/usr/bin/env bash
# ctest test fuzz_NAME: runs build/fuzz/fuzz_NAME for SECONDS over its seed corpus (seeds/NAME, read only) and a
# fresh scratch corpus. libFuzzer exits non-zero on a crash, a sanitizer report, a leak or an input slower than
# -timeout; that status fails the test. Usage: fuzz_test.sh FUZZ_BUILD_DIR NAME SECONDS
set -euo pipefail
dir=$1 name=$2 seconds=$3
bin=$dir/fuzz_$name seeds=$dir/seeds/$name work=$dir/work/$name
[[ -x $bin ]] || { echo "fuzz_test: $bin not built" >&2; exit 1; }
[[ -d $seeds ]] || { echo "fuzz_test: no seed corpus $seeds" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cd "$work"
# -artifact_prefix: a crashing input lands in work/NAME/artifacts/ (reproduce: fuzz_NAME FILE).
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" "$seeds"
