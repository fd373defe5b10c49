#!/usr/bin/env bash
# Re-run the CamVid accuracy table (docs/results.md) in the background:
#   nohup bash benchmarks/camvid_table.sh > runs/camvid_table.log 2>&1 &
# Each run trains camvid_cpu on the 1_8 split, then scores its last teacher (student for sup_only)
# on the 233 test images. Pick a subset with RUNS="gta:0 sup_only:0" (name:seed).
set -euo pipefail
ROOT=${CAMVID_ROOT:-../shared/data/camvid}
OUT=${OUT:-runs/camvid}
RUNS=${RUNS:-"sup_only:0 mean_teacher:0 gta:0 sup_only:1 mean_teacher:1 gta:1 sup_only:2 mean_teacher:2 gta:2 gta_all:0 gta_noreweight:0"}
for run in $RUNS; do
  name=${run%%:*}; seed=${run##*:}
  case $name in
    gta_all) args="method.name=gta method.transfer=all" ;;          # "Original EMA" (Table 5)
    gta_noreweight) args="method.name=gta method.reweight=none" ;;  # no re-weighting (Table 4/9)
    mean_teacher_noreweight) args="method.name=mean_teacher method.reweight=none" ;;  # Table 4 row 2
    *) args="method.name=$name" ;;
  esac
  dir=$OUT/${name}_seed$seed
  start=$(date +%s)
  gtaseg train camvid_cpu data.root=$ROOT data.split=1_8 train.seed=$seed train.out_dir=$dir train.progress=false $args
  echo "$dir train_wall_s $(( $(date +%s) - start ))" | tee -a $OUT/walltime.txt
  gtaseg eval $dir/checkpoints/latest.pt data.eval_split=test | tail -1
done
gtaseg aggregate $OUT/*_seed* --split test --out docs/results_table.md
