#!/usr/bin/env bash
# bench/run.sh: run weft_bench as BENCHMARKS.md asks, then print the report.
#
#   bench/run.sh [path/to/weft_bench]       (default: build/bench/bench/weft_bench)
#
# It builds nothing: scripts/bench.sh builds the `bench` preset and calls this script.
#
# 1. Waits for an idle machine: 1-minute load average below WEFT_BENCH_IDLE_LOAD (0.5), for
#    at most WEFT_BENCH_IDLE_TIMEOUT seconds (300); then warns and goes on.
# 2. Runs WEFT_BENCH_ROUNDS rounds (5). Each round runs every workload x every pool once, each
#    in its own process (so peak RSS and idle CPU are per pool), pools in a rotated order per
#    round, JSON out. Machines here are noisy: only figures from one interleaved run compare.
# 3. Calls bench/report.py, which prints the Markdown table of medians. A full-scale run of
#    every workload also writes it to docs/perf/YYYY-MM-DD.md (or WEFT_BENCH_REPORT=<file>;
#    WEFT_BENCH_REPORT=- prints only).
#
# Other settings: WEFT_BENCH_FILTER (regex on workload names, e.g. 'W1|W6'),
# WEFT_BENCH_RUN_TIMEOUT (seconds per process, 600), WEFT_BENCH_OUT (JSON directory),
# WEFT_BENCH_THREADS and WEFT_BENCH_SCALE (passed through to weft_bench).

set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${script_dir}/.." && pwd)"

binary="${1:-build/bench/bench/weft_bench}"
if [[ ! -x "${binary}" && -x "${repo_root}/${binary}" ]]; then
  binary="${repo_root}/${binary}"
fi
if [[ ! -x "${binary}" ]]; then
  echo "run.sh: no weft_bench at '${binary}'; build it first (bash scripts/bench.sh does)" >&2
  exit 2
fi

rounds="${WEFT_BENCH_ROUNDS:-5}"
idle_load="${WEFT_BENCH_IDLE_LOAD:-0.5}"
idle_timeout="${WEFT_BENCH_IDLE_TIMEOUT:-300}"
run_timeout="${WEFT_BENCH_RUN_TIMEOUT:-600}"
workload_filter="${WEFT_BENCH_FILTER:-.}"
scale="${WEFT_BENCH_SCALE:-1}"
out_dir="${WEFT_BENCH_OUT:-$(dirname "${binary}")/results/$(date -u +%Y%m%dT%H%M%SZ)}"

log() { echo "run.sh: $*" >&2; }

load_1min() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0; }
below() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }

# ---- 1. Wait for an idle machine -----------------------------------------------------------
load_at_start="$(load_1min)"
waited=0
while ! below "$(load_1min)" "${idle_load}"; do
  if (( waited >= idle_timeout )); then
    log "warning: load average still $(load_1min) after ${waited} s (wanted < ${idle_load});" \
        "running anyway: expect noisier figures"
    break
  fi
  if (( waited == 0 )); then
    log "waiting for load average < ${idle_load} (now ${load_at_start}, at most ${idle_timeout} s)"
  fi
  sleep 5
  waited=$(( waited + 5 ))
done
load_at_run="$(load_1min)"

# ---- 2. Which workloads and pools ----------------------------------------------------------
# Names are BM_<workload>/<pool>/iterations:N/real_time.
mapfile -t names < <("${binary}" --benchmark_list_tests=true | cut -d/ -f1,2)
workloads=()
pools=()
for name in "${names[@]}"; do
  workload="${name%%/*}"
  pool="${name#*/}"
  if [[ ! " ${workloads[*]} " == *" ${workload} "* ]] && [[ "${workload}" =~ ${workload_filter} ]]; then
    workloads+=("${workload}")
  fi
  if [[ ! " ${pools[*]} " == *" ${pool} "* ]]; then
    pools+=("${pool}")
  fi
done
if (( ${#workloads[@]} == 0 )); then
  log "no workload matches WEFT_BENCH_FILTER='${workload_filter}'"
  exit 2
fi

mkdir -p "${out_dir}"
commit="$(git -C "${repo_root}" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "${commit}" != unknown ]] && [[ -n "$(git -C "${repo_root}" status --porcelain -- include src bench 2>/dev/null)" ]]; then
  commit="${commit} (with uncommitted changes)"
fi
binary_shown="${binary#"${repo_root}/"}"
settings="$(env | grep -E '^WEFT_BENCH_[A-Z_]+=' | grep -vE '^WEFT_BENCH_(OUT|REPORT)=' | sort | tr '\n' ' ' || true)"
command_line="${settings}bench/run.sh ${binary_shown}"
cpu_model="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)"
cat > "${out_dir}/meta.json" <<EOF
{
  "date": "$(date -u +%Y-%m-%d)",
  "started_utc": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "commit": "${commit}",
  "command": "${command_line//\"/\\\"}",
  "cpu_model": "${cpu_model:-unknown}",
  "cores_online": $(nproc 2>/dev/null || echo 0),
  "rounds": ${rounds},
  "scale": "${scale}",
  "threads_env": "${WEFT_BENCH_THREADS:-}",
  "load_at_start": ${load_at_start},
  "load_at_run": ${load_at_run},
  "idle_wait_s": ${waited},
  "idle_load_wanted": ${idle_load}
}
EOF

# ---- 3. Interleaved rounds -----------------------------------------------------------------
log "${rounds} rounds x ${#workloads[@]} workloads x ${#pools[@]} pools; JSON in ${out_dir}"
for (( round = 1; round <= rounds; ++round )); do
  for workload in "${workloads[@]}"; do
    count=${#pools[@]}
    for (( i = 0; i < count; ++i )); do
      pool="${pools[$(( (i + round - 1) % count ))]}"
      stem="${out_dir}/r${round}_${workload}_${pool}"
      start_ns=$(date +%s%N)
      status=0
      timeout --kill-after=10 "${run_timeout}" "${binary}" \
        --benchmark_filter="^${workload}/${pool}/" \
        --benchmark_repetitions=1 \
        --benchmark_format=json \
        --benchmark_out="${stem}.json" --benchmark_out_format=json \
        > /dev/null 2> "${stem}.log" || status=$?
      seconds=$(awk -v s="${start_ns}" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }')
      if (( status != 0 )); then
        if (( status == 124 || status == 137 )); then
          reason="timed out: no result within ${run_timeout} s"
        else
          reason="failed: exit status ${status}"
        fi
        printf '{"failure": {"name": "%s/%s", "round": %d, "reason": "%s"}}\n' \
          "${workload}" "${pool}" "${round}" "${reason}" > "${stem}.json"
        log "[round ${round}/${rounds}] ${workload}/${pool}: ${reason}"
      else
        log "[round ${round}/${rounds}] ${workload}/${pool} (${seconds} s)"
      fi
    done
  done
done

# ---- 4. Report -----------------------------------------------------------------------------
# A full-scale run of every workload goes to docs/perf/<date>.md (never over an earlier report
# of the same day: <date>-2.md, -3, ...), with the figures of every run in <same name>.json.
report_path="${WEFT_BENCH_REPORT:-}"
if [[ -z "${report_path}" ]]; then
  if [[ "${workload_filter}" == "." ]] && awk -v s="${scale}" 'BEGIN { exit !(s >= 1) }'; then
    stem="${repo_root}/docs/perf/$(date -u +%Y-%m-%d)"
    report_path="${stem}.md"
    n=2
    while [[ -e "${report_path}" ]]; do
      report_path="${stem}-${n}.md"
      n=$(( n + 1 ))
    done
  else
    report_path="-"
  fi
fi
if [[ "${report_path}" == "-" ]]; then
  python3 "${script_dir}/report.py" "${out_dir}"
else
  mkdir -p "$(dirname "${report_path}")"
  python3 "${script_dir}/report.py" "${out_dir}" --save-json "${report_path%.md}.json" \
    | tee "${report_path}"
  log "report written to ${report_path} (data: ${report_path%.md}.json)"
fi
