#!/usr/bin/env bash
# Re-run the CamVid accuracy table (docs/results.md) in the background:
#   nohup bash benchmarks/camvid_table.sh > runs/camvid_table.log 2>&1 &
# Each run trains camvid_cpu on the 1_8 split, then scores its last teacher (student for sup_only)
# on the 233 test images; at the end `gtaseg aggregate` writes the mean ± std table.
#   RUNS="gta:0 sup_only:0"   which runs (name:seed); names below
#                             NAME_x3 (e.g. gta_x3): the same with 3x the iterations
#   JOBS=4                    runs at once (default 1; a GPU has room for several)
#   EXTRA="train.device=cuda data.num_workers=2"   overrides added to every run
#   OUT=runs/camvid  CAMVID_ROOT=../shared/data/camvid  TABLE=docs/results_table.md
set -euo pipefail
export ROOT=${CAMVID_ROOT:-../shared/data/camvid} OUT=${OUT:-runs/camvid} EXTRA=${EXTRA:-}
TABLE=${TABLE:-docs/results_table.md}
JOBS=${JOBS:-1}
RUNS=${RUNS:-"sup_only:0 mean_teacher:0 gta:0 sup_only:1 mean_teacher:1 gta:1 sup_only:2 mean_teacher:2 gta:2
  gta_all:0 gta_noreweight:0 gta_all:1 gta_noreweight:1 gta_all:2 gta_noreweight:2
  gta_paperwarmup:0 gta_nocutmix:0 gta_paperwarmup:1 gta_nocutmix:1 gta_paperwarmup:2 gta_nocutmix:2"}

one_run() {
  local name=${1%%:*} seed=${1##*:} args iters=""
  if [[ $name == *_x3 ]]; then iters="train.iters=2100"; fi  # NAME_x3: 3x the iterations (budget study)
  case ${name%_x3} in
    sup_only | mean_teacher | gta) args="method.name=${name%_x3}" ;;
    gta_all) args="method.name=gta method.transfer=all" ;;          # "Original EMA" (Table 5)
    gta_noreweight) args="method.name=gta method.reweight=none" ;;  # no re-weighting (Table 4/9)
    gta_paperwarmup) args="method.name=gta method.warmup_iters=-1" ;;  # the paper's one-epoch warm-up
    gta_nocutmix) args="method.name=gta method.cutmix_prob=0" ;;       # no CutMix (the paper names none)
    mean_teacher_noreweight) args="method.name=mean_teacher method.reweight=none" ;;  # Table 4 row 2
    *) echo "unknown run name '$name' in RUNS; choose sup_only, mean_teacher, gta, gta_all, gta_noreweight," \
         "gta_paperwarmup, gta_nocutmix or mean_teacher_noreweight" >&2; return 1 ;;
  esac
  local dir=$OUT/${name}_seed$seed log=$OUT/logs/${name}_seed$seed.log start=$(date +%s)
  # shellcheck disable=SC2086  # args and EXTRA are word lists
  if ! gtaseg train camvid_cpu data.root="$ROOT" data.split=1_8 train.seed="$seed" train.out_dir="$dir" \
      train.progress=false $args $iters $EXTRA > "$log" 2>&1; then
    echo "$dir: training failed, see $log" >&2; return 1
  fi
  echo "$dir train_wall_s $(( $(date +%s) - start ))" >> "$OUT/walltime.txt"
  # shellcheck disable=SC2086
  gtaseg eval "$dir/checkpoints/latest.pt" data.root="$ROOT" data.eval_split=test $EXTRA >> "$log" 2>&1
  echo "$dir $(tail -1 "$log")"
}
export -f one_run

mkdir -p "$OUT/logs"
status=0
printf '%s\n' $RUNS | xargs -P "$JOBS" -I{} bash -c 'one_run {}' || status=$?
gtaseg aggregate "$OUT"/*_seed* --split test --out "$TABLE"
exit $status
