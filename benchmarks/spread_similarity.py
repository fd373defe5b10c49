"""How alike are the images a ranking puts first, as `gtaseg suggest --spread` sees them?

    python benchmarks/spread_similarity.py RUN OUT/ranking.csv [--top 80] [--budget 23] [KEY=VALUE ...]

Embeds the top images of a `gtaseg suggest` ranking the way --spread does (the spatial mean of the
teacher's deepest features, one whole-image pass) and prints, for the first --budget of them, the cosine
similarity to their nearest neighbour among the top; then, for several values of --similarity, how many
near-duplicates the greedy choice would skip and from which groups (the part of an id before its first
'_': the sequence, for CamVid) the --budget picks would come.
"""

from __future__ import annotations

import argparse
import csv
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gtaseg import suggest

THRESHOLDS = (0.95, 0.9, 0.85, 0.8, 0.75, 0.7)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the run folder or checkpoint that the ranking was made from")
    p.add_argument("ranking", type=Path, help="ranking.csv written by gtaseg suggest")
    p.add_argument("--top", type=int, default=80, help="how many of the ranking's first images to embed")
    p.add_argument("--budget", type=int, default=23)
    p.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides, e.g. data.root=DIR")
    a = p.parse_intermixed_args()  # overrides may follow the options
    with a.ranking.open() as f:
        rows = sorted(csv.DictReader(f), key=lambda r: int(r["rank"]))[: a.top]
    if len(rows) < a.budget:
        raise SystemExit(f"{a.ranking} has {len(rows)} rows; --budget {a.budget} needs at least as many")
    job = suggest.open_job(a.run, "entropy", a.overrides)  # entropy: the teacher alone, as --spread embeds
    pool = suggest.load_pool(job)
    index = {name: i for i, name in enumerate(pool.names)}
    device = torch.device("cpu")
    models = suggest.load_models(job, ("teacher",), device)
    emb = torch.stack([suggest.analyse(models, pool.images[index[r["id"]]]["image"], job, True, device).embedding
                       for r in rows])
    unit = F.normalize(emb.double(), dim=1)
    sim = (unit @ unit.T).numpy()
    np.fill_diagonal(sim, -1)
    nearest = sim[: a.budget].max(1)
    print(f"top {len(rows)} of {a.ranking}: cosine similarity of each of the first {a.budget} to its nearest "
          f"other image: min {nearest.min():.2f}, median {np.median(nearest):.2f}, max {nearest.max():.2f}; "
          f"all pairs: median {np.median(sim[np.triu_indices(len(rows), 1)]):.2f}")
    scores = np.array([float(r["score"]) for r in rows])
    for t in THRESHOLDS:
        picks = suggest.select(scores, a.budget, emb, t)  # in rank order
        groups = ", ".join(f"{g} {n}" for g, n in Counter(rows[i]["id"].split("_")[0] for i in picks).most_common())
        # a pick as alike as t to an earlier one is a top-up: the top rows hold fewer than --budget distinct images
        if any(sim[i, picks[:k]].max() >= t for k, i in enumerate(picks) if k):
            print(f"--similarity {t}: the top {len(rows)} hold fewer than {a.budget} distinct images; raise --top")
        else:
            print(f"--similarity {t}: {max(picks) + 1 - a.budget} skipped; picks by group: {groups}")


if __name__ == "__main__":
    main()
