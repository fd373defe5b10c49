"""Training-step speed of GTA-Seg against its parts, SupOnly and the official code's structure.

    python benchmarks/step_time.py                      # camvid_cpu model and batch, CPU
    python benchmarks/step_time.py --device cuda --amp bf16 --channels-last

Everything is measured in one process, interleaved round by round, so the ratios compare like with
like on a shared, noisy machine. Each figure is the median over --reps rounds.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gtaseg.config import load_config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.distributed import DistInfo
from gtaseg.engine import build_models
from gtaseg.losses import pseudo_label_ce, supervised_ce
from gtaseg.methods import METHODS


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device) -> float:
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="camvid_cpu")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", default="none")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--crop", type=int, default=0, help="crop size (default: the config's)")
    p.add_argument("--batch", type=int, default=0, help="labeled = unlabeled batch (default: the config's)")
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True  # as `gtaseg train` does
    over = ["model.pretrained=none", f"train.device={a.device}", f"train.amp={a.amp}",
            f"train.channels_last={str(a.channels_last).lower()}", "method.warmup_iters=0", "train.iters=1000000"]
    cfg = load_config(a.config, over)
    crop = a.crop or cfg.data.crop_size
    b = a.batch or cfg.data.batch_size
    device = torch.device(a.device)
    info = DistInfo(device=device)
    k = 11
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format

    def method(name, *extra):
        c = load_config(a.config, [*over, f"method.name={name}", *extra])
        torch.manual_seed(0)
        return METHODS[name](c, build_models(c, k, device, info), info, 0)

    gta, sup, uni = method("gta"), method("sup_only"), method("unimatch", "method.cutmix_prob=0.5")
    official = method("gta", "method.joint_forward=true", "method.confidence_pass=mixed", "method.cutmix_prob=0.5")
    g = torch.Generator().manual_seed(0)
    x_l = torch.rand(b, 3, crop, crop, generator=g).to(device).contiguous(memory_format=fmt)
    x_u = torch.rand(b, 3, crop, crop, generator=g).to(device).contiguous(memory_format=fmt)
    y_l = torch.randint(0, k, (b, crop, crop), generator=g).to(device)
    u = UnlabeledBatch(x_u, torch.randint(0, k, (b, crop, crop), generator=g).to(device),
                       torch.ones(b, crop, crop, dtype=torch.bool, device=device))
    lab = LabeledBatch(x_l, y_l)

    # The parts of one GTA iteration, run on the same models as the full step.
    A, S = gta.learners["assistant"], gta.learners["student"]
    state = {}

    def teacher_part():
        state["x_u"], state["pl"], _ = gta.teach(lab, u)

    def assistant_part():
        with gta.autocast():
            loss = pseudo_label_ce(A(state["x_u"]), state["pl"])
        A.step(loss)
        loss.item()

    def student_part():
        with gta.autocast():
            loss = supervised_ce(S(x_l), y_l)
        S.step(loss)
        loss.item()

    def ema_part():
        gta.transfer.update(0.99)
        gta.teacher_ema.update(0.99)


    def run(m):
        def f():
            m.train_step(lab, u, 10)
        return f

    cases = {"gta step": run(gta), "teacher forward": teacher_part, "assistant fwd+bwd+step": assistant_part,
             "student fwd+bwd+step": student_part, "two EMAs": ema_part, "sup_only step": run(sup),
             "official-structure step": run(official), "unimatch step": run(uni)}
    times = {n: [] for n in cases}
    for r in range(a.warmup + a.reps):
        for name, fn in cases.items():
            t = timed(fn, device)
            if r >= a.warmup:
                times[name].append(t)
    med = {n: statistics.median(v) for n, v in times.items()}
    parts = sum(med[n] for n in ("teacher forward", "assistant fwd+bwd+step", "student fwd+bwd+step", "two EMAs"))
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device {device} ({where}), "
          f"amp {a.amp}, channels_last {a.channels_last}, {cfg.model.backbone}, crop {crop}, batch {b}+{b}, "
          f"median of {a.reps}")
    for n, v in med.items():
        print(f"  {n:<26} {v * 1000:9.1f} ms")
    print(f"  sum of parts               {parts * 1000:9.1f} ms")
    print(f"overhead ratio (gta step / sum of parts): {med['gta step'] / parts:.3f}   (target <= 1.10)")
    print(f"cost of the method (gta / sup_only):      {med['gta step'] / med['sup_only step']:.3f}   (target <= 2.5)")
    # UniMatch: one pass of labeled + weak images whose predictor also runs on dropped-out features,
    # then one pass of the two strong views; GTA-Seg: teacher forward + assistant and student passes.
    print(f"cost of unimatch (unimatch / sup_only):   {med['unimatch step'] / med['sup_only step']:.3f}")
    print(f"unimatch / gta:                           {med['unimatch step'] / med['gta step']:.3f}")
    print(f"official structure / ours:                {med['official-structure step'] / med['gta step']:.3f}")
    print(f"EMA share of the gta step:                {med['two EMAs'] / med['gta step'] * 100:.2f} %")
    if device.type == "cuda":  # all four methods' models and optimizer states are resident at once
        print(f"peak GPU memory (all cases):              {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


if __name__ == "__main__":
    main()
