#!/usr/bin/env bash
# The label advisor's proof by simulation on CamVid, where every training image has a mask:
#   nohup bash benchmarks/suggest_simulation.sh > runs/suggest_sim.log 2>&1 &
# For each seed: train CONFIG (GTA-Seg) on the BASE split (1_16: 23 labeled), let `gtaseg suggest`
# choose BUDGET more images with each score, train CONFIG again on each new split (same seed), and
# score every run's last teacher on the 233 test images. Then `gtaseg aggregate` writes the
# mean ± std and per-class table, and benchmarks/paired.py the per-seed differences against random.
#   SEEDS="0 1 2"
#   SCORES="disagreement entropy random"   a score+spread entry (e.g. disagreement+spread) adds --spread;
#                                          score+spread=SIM (e.g. disagreement+spread=0.8) also --similarity SIM
#   BUDGET=23  BASE=1_16                   the shipped 1_8 is one more random draw of 23 (1_16 + 23 = 46)
#   JOBS=4  EXTRA="train.device=cuda data.num_workers=2"   runs at once; overrides added to every run
#   OUT=runs/suggest_sim  CAMVID_ROOT=../shared/data/camvid  CONFIG=camvid_cpu
# --score random draws with --seed SEED, so each seed has its own random choice.
# Re-running skips what is done (a run with eval/test_teacher.json, a choice with chosen.txt), so the
# twelve runs can be spread over several sittings: SEEDS=0 SCORES=disagreement, then SCORES=random, ...
set -euo pipefail
export ROOT=${CAMVID_ROOT:-../shared/data/camvid} OUT=${OUT:-runs/suggest_sim} EXTRA=${EXTRA:-}
export CONFIG=${CONFIG:-camvid_cpu} BUDGET=${BUDGET:-23} BASE=${BASE:-1_16}
SEEDS=${SEEDS:-"0 1 2"}
SCORES=${SCORES:-"disagreement entropy random"}
JOBS=${JOBS:-1}
HERE=$(cd "$(dirname "$0")" && pwd)

train_and_score() {  # DIR LOG ARGS...: train CONFIG into DIR, then score it on test
  local dir=$1 log=$2 start
  shift 2
  if [[ -f $dir/eval/test_teacher.json ]]; then echo "$dir: already trained and scored, skipped"; return 0; fi
  start=$(date +%s)
  # shellcheck disable=SC2086  # EXTRA is a word list
  if ! gtaseg train "$CONFIG" data.root="$ROOT" train.out_dir="$dir" train.progress=false "$@" $EXTRA > "$log" 2>&1
  then
    echo "$dir: training failed, see $log" >&2; return 1
  fi
  echo "$dir train_wall_s $(( $(date +%s) - start ))" >> "$OUT/walltime.txt"
  # shellcheck disable=SC2086
  gtaseg eval "$dir/checkpoints/latest.pt" data.root="$ROOT" data.eval_split=test $EXTRA >> "$log" 2>&1
  echo "$dir $(tail -1 "$log")"
}

base_run() {  # SEED
  train_and_score "$OUT/base_seed$1" "$OUT/logs/base_seed$1.log" data.split="$BASE" train.seed="$1"
}

choose_and_train() {  # SCORE[+spread[=SIMILARITY]]:SEED
  local item=${1%%:*} seed=${1##*:} score spread=() name sep=""
  score=${item%%+*}
  case ${item#"$score"} in
    "") ;;
    +spread) spread=(--spread) ;;
    +spread=*) spread=(--spread --similarity "${item#*=}") ;;
    *) echo "unknown entry '$item' in SCORES; write SCORE, SCORE+spread or SCORE+spread=SIMILARITY" >&2; return 1 ;;
  esac
  name=${item/+/_}
  name=${name/=/}  # disagreement+spread=0.8 -> disagreement_spread0.8
  if [[ $name == *[0-9] ]]; then sep=_; fi  # keep a similarity apart from the budget in the split's name
  local choice=$OUT/choice_${name}_seed$seed split=${BASE}+${name}${sep}${BUDGET}
  # shellcheck disable=SC2086
  if [[ -f $choice/chosen.txt ]]; then
    echo "$choice: already chosen, reused"
  elif ! gtaseg suggest "$OUT/base_seed$seed" --budget "$BUDGET" --score "$score" "${spread[@]}" --seed "$seed" \
      --out "$choice" --name "$split" --no-progress data.root="$ROOT" $EXTRA > "$OUT/logs/choice_${name}_seed$seed.log" 2>&1
  then
    echo "$choice: suggest failed, see $OUT/logs/choice_${name}_seed$seed.log" >&2; return 1
  fi
  train_and_score "$OUT/${name}_seed$seed" "$OUT/logs/${name}_seed$seed.log" data.split_dir="$choice/splits" \
    data.split="$split" train.seed="$seed"
}
export -f train_and_score base_run choose_and_train

mkdir -p "$OUT/logs"
status=0
# shellcheck disable=SC2086
printf '%s\n' $SEEDS | xargs -P "$JOBS" -I{} bash -c 'base_run {}' || status=$?
pairs=()
for seed in $SEEDS; do
  [[ -f $OUT/base_seed$seed/checkpoints/latest.pt ]] || continue
  for item in $SCORES; do pairs+=("$item:$seed"); done
done
if (( ${#pairs[@]} )); then
  printf '%s\n' "${pairs[@]}" | xargs -P "$JOBS" -I{} bash -c 'choose_and_train {}' || status=$?
fi
runs=()
for dir in "$OUT"/*_seed*; do
  [[ -d $dir && $(basename "$dir") != choice_* ]] && runs+=("$dir")
done
gtaseg aggregate "${runs[@]}" --split test --out "$OUT/table.md" || status=$?
if [[ " $SCORES " == *" random "* ]]; then
  python "$HERE/paired.py" "${runs[@]}" --ref random > "$OUT/paired.md" || status=$?
fi
exit $status
