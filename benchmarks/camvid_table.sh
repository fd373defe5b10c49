#!/usr/bin/env bash
# Re-run the CamVid accuracy table (docs/results.md) in the background:
#   nohup bash benchmarks/camvid_table.sh > runs/camvid_table.log 2>&1 &
# Each run trains camvid_cpu on the 1_8 split, then scores its last teacher (student for sup_only)
# on the 233 test images; at the end `gtaseg aggregate` writes the mean ± std table.
#   RUNS="gta:0 sup_only:0"   which runs (name:seed); names below
#                             NAME_x3 (e.g. gta_x3): the same with train.iters=2100 (for CONFIG=camvid_cpu_700)
#   JOBS=4                    runs at once (default 1; a GPU has room for several)
#   EXTRA="train.device=cuda data.num_workers=2"   overrides added to every run
#   OUT=runs/camvid  CAMVID_ROOT=../shared/data/camvid  TABLE=docs/results_table.md
#   CONFIG=camvid_cpu_v1      the built-in config to train (default camvid_cpu; camvid_cpu_x10: the
#                             figures made at head LR x10; camvid_cpu_laplace: those with the paper's
#                             re-weighting)
#   SEQUENCES=0               skip the per-sequence test scores (benchmarks/camvid_sequences.py)
set -euo pipefail
export ROOT=${CAMVID_ROOT:-../shared/data/camvid} OUT=${OUT:-runs/camvid} EXTRA=${EXTRA:-}
TABLE=${TABLE:-docs/results_table.md}
export CONFIG=${CONFIG:-camvid_cpu}  # camvid_cpu_700: the 700-iteration tables; camvid_cpu_v1: docs/results_v1.md
JOBS=${JOBS:-1}
RUNS=${RUNS:-"sup_only:0 mean_teacher:0 gta:0 sup_only:1 mean_teacher:1 gta:1 sup_only:2 mean_teacher:2 gta:2
  mt_ema:0 gta_laplace:0 gta_all:0 gta_perturb:0 gta_class:0
  mt_ema:1 gta_laplace:1 gta_all:1 gta_perturb:1 gta_class:1
  mt_ema:2 gta_laplace:2 gta_all:2 gta_perturb:2 gta_class:2"}
SEQUENCES=${SEQUENCES:-1}  # 1: also score each run's test split per sequence (Seq05VD, 0001TP)

one_run() {
  local name=${1%%:*} seed=${1##*:} args iters=""
  local base=${name%_x3}  # NAME_x3: 3x the iterations (budget study)
  if [[ $name == *_x3 ]]; then iters="train.iters=2100"; fi
  case $base in
    sup_only | mean_teacher | gta) args="method.name=$base" ;;
    mt_ema) args="method.name=mean_teacher method.unsup_weight=0" ;;  # control: SupOnly + EMA teacher
    gta_all) args="method.name=gta method.transfer=all" ;;          # "Original EMA" (Table 5)
    gta_noreweight) args="method.name=gta method.reweight=none" ;;  # no re-weighting (Table 4/9; camvid_cpu's)
    gta_laplace) args="method.name=gta method.reweight=laplace" ;;  # the paper's re-weighting (Eq. 6)
    gta_noperturb) args="method.name=gta method.perturb=false" ;;   # no strong perturbation
    gta_noclass) args="method.name=gta method.drop_scope=batch" ;;  # the paper's batch-wide drop
    gta_perturb) args="method.name=gta method.perturb=true" ;;      # strong perturbation (camvid_cpu_700 has it)
    gta_class) args="method.name=gta method.drop_scope=class" ;;    # the drop percentile per predicted class
    gta_t[0-9]*)  # transmission alpha 0.N (gta_t999: 0.999, the paper's Table 8; gta_t98: 0.98)
      args="method.name=gta method.transfer_decay=0.${base##*_t}" ;;
    gta_drop[0-9]*)  # drop N % of the pseudo-label pixels instead of 20 (gta_drop0: keep every pixel)
      args="method.name=gta method.drop_percent=${base##*_drop}" ;;
    gta_ramp) args="method.name=gta method.ema_schedule=ramp" ;;     # official: both EMAs ramp to 0.999
    gta_mu[0-9]*)  # the assistant's pseudo-label loss weighs N instead of 1 (scales A's step only; gta_mu0.5 too)
      args="method.name=gta method.unsup_weight=${base##*_mu}" ;;
    gta_ub[0-9]*)  # N unlabeled images per iteration instead of 4 (more pseudo-label signal per transmission)
      args="method.name=gta data.unlabeled_batch_size=${base##*_ub}" ;;
    gta_head[0-9]* | sup_only_head[0-9]* | mean_teacher_head[0-9]*)  # head LR xN (camvid_cpu x20, camvid_cpu_x10 x10; x1: the official non-VOC setting)
      args="method.name=${base%_head*} train.head_lr_mult=${base##*_head}" ;;
    gta_epochwarmup) args="method.name=gta method.warmup_iters=-1" ;;  # warm-up of one epoch (80 iterations)
    gta_nocutmix) args="method.name=gta method.cutmix_prob=0" ;;       # no CutMix (the paper names none)
    mean_teacher_noreweight) args="method.name=mean_teacher method.reweight=none" ;;  # Table 4 row 2
    gta_fp) args="method.name=gta method.assistant_fp=0.5" ;;    # the assistant also learns on dropped-out features
    gta_uni) args="method.name=gta method.perturb=true method.assistant_fp=0.5" ;;  # UniMatch's perturbations, on A
    unimatch) args="method.name=unimatch" ;;                           # UniMatch with the recipe's warm-up and CutMix
    unimatch_eq) args="method.name=unimatch train.iters=1190" ;;      # at GTA-Seg's camvid_cpu wall time (docs/performance.md)
    unimatch_nowarmup) args="method.name=unimatch method.warmup_iters=0" ;;  # UniMatch as its paper: no warm-up
    *) echo "unknown run name '$name' in RUNS; choose sup_only, mean_teacher, gta, mt_ema, gta_all," \
         "gta_noreweight, gta_laplace, gta_noperturb, gta_noclass, gta_perturb, gta_class, gta_tN (transmission alpha 0.N), gta_dropN, gta_ramp, gta_ubN (N unlabeled images per iteration), gta_muN (assistant loss weight N), gta_headN, sup_only_headN, mean_teacher_headN (N: head LR multiplier)," \
         "gta_epochwarmup, gta_nocutmix," \
         "mean_teacher_noreweight, gta_fp, gta_uni," \
         "unimatch, unimatch_eq or unimatch_nowarmup" >&2
       return 1 ;;
  esac
  local dir=$OUT/${name}_seed$seed log=$OUT/logs/${name}_seed$seed.log start=$(date +%s)
  # shellcheck disable=SC2086  # args and EXTRA are word lists
  if ! gtaseg train "$CONFIG" data.root="$ROOT" data.split=1_8 train.seed="$seed" train.out_dir="$dir" \
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
if [[ $SEQUENCES == 1 ]]; then
  python "$(dirname "$0")/camvid_sequences.py" "$OUT"/*_seed* --data-root "$ROOT" > "$OUT/sequences.txt" || status=$?
fi
exit $status
