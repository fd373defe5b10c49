"""Behaviour of the methods on tiny models: gentleness, no shared storage, transmission, teacher EMA."""

import math

import pytest
import torch

from gtaseg.config import load_config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.distributed import DistInfo
from gtaseg.ema import shares_storage
from gtaseg.engine import build_models
from gtaseg.losses import IGNORE
from gtaseg.methods import METHODS, transfer_modules

TINY = ["model.backbone=resnet18", "model.aspp_channels=16", "model.decoder_channels=16",
        "model.low_level_channels=8", "data.num_workers=0"]


def make(method: str, *overrides: str, warmup: int = 2):
    cfg = load_config("demo", [*TINY, f"method.name={method}", *overrides])
    torch.manual_seed(0)
    models = build_models(cfg, 3, torch.device("cpu"), DistInfo())
    return METHODS[method](cfg, models, DistInfo(), warmup), models


def batch(seed: int, labeled_ignore: bool = False):
    g = torch.Generator().manual_seed(seed)
    x_l, x_u = torch.rand(2, 3, 32, 32, generator=g), torch.rand(2, 3, 32, 32, generator=g)
    y_l = torch.randint(0, 3, (2, 32, 32), generator=g)
    if labeled_ignore:
        y_l.fill_(IGNORE)
    u = UnlabeledBatch(x_u, torch.randint(0, 3, (2, 32, 32), generator=g), torch.ones(2, 32, 32, dtype=torch.bool))
    return LabeledBatch(x_l, y_l), u


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def run(method, steps, start=0, **kw):
    for step in range(start, start + steps):
        method.set_lr(step)
        method.train_step(*batch(step, **kw), step)


@pytest.mark.parametrize("name,moves", [("gta", False), ("mean_teacher", True)])
def test_gentleness_student_predictor_never_learns_from_pseudo_labels(name, moves):
    # Labeled masks all ignore: the supervised gradient is exactly zero. Without weight decay the only
    # thing that can move the student's mask predictor is pseudo labels.
    method, models = make(name, "train.weight_decay=0", "train.lr=0.05")
    run(method, 2, labeled_ignore=True)  # warm-up
    run(method, 1, start=2, labeled_ignore=True)  # ends warm-up (copies) and takes one step
    student = models["student"]
    pred0, feat0 = params(student.predictor), params(student.features)
    run(method, 6, start=3, labeled_ignore=True)
    assert same(params(student.predictor), pred0) != moves
    assert not same(params(student.features), feat0)


def test_no_two_models_share_storage():
    method, models = make("gta")
    names = list(models)

    def check():
        for a in names:
            for b in names:
                if a != b:
                    assert shares_storage(models[a], models[b]) == [], (a, b)

    check()
    run(method, 3)
    check()  # after warm-up's copies
    run(method, 2, start=3)
    check()


@pytest.mark.parametrize("scope,predictor_moves", [("features", False), ("all", True)])
def test_transmission_is_ema_of_assistant_features(scope, predictor_moves):
    method, models = make("gta", f"method.transfer={scope}")
    method.end_warmup()
    s, a = models["student"], models["assistant"]
    with torch.no_grad():
        for p in a.parameters():
            p.add_(torch.randn_like(p))
    old_f, old_g = params(s.features), params(s.predictor)
    method.transfer.update(0.99)
    for new, old, src in zip(s.features.parameters(), old_f, a.features.parameters()):
        assert torch.allclose(new, 0.99 * old + 0.01 * src, atol=1e-6)
    assert same(params(s.predictor), old_g) != predictor_moves


def test_transfer_scopes_select_resnet_prefixes():
    _, models = make("gta")
    s = models["student"]
    stem = transfer_modules(s, "stem")
    assert [type(m).__name__ for m in stem][:2] == ["Conv2d", "BatchNorm2d"]
    names = [n for n, _ in s.backbone.named_children()]
    assert len(transfer_modules(s, "layer2")) == names.index("layer2") + 1
    assert transfer_modules(s, "backbone+decoder") == [s.backbone, s.decoder]


@pytest.mark.parametrize("schedule,expected", [("constant", 0.99), ("ramp", 0.75)])
def test_teacher_is_ema_of_whole_student(schedule, expected):
    method, models = make("gta", f"method.ema_schedule={schedule}")
    t, s = models["teacher"], models["student"]
    step = method.warmup + 3  # ramp: min(1 - 1/(3+1), 0.999) = 0.75
    assert method.decay(step) == pytest.approx(expected)
    with torch.no_grad():
        for p in s.parameters():
            p.add_(torch.randn_like(p))
    old = params(t)
    method.teacher_ema.update(method.decay(step))
    for new, o, src in zip(t.parameters(), old, s.parameters()):
        assert torch.allclose(new, expected * o + (1 - expected) * src, atol=1e-6)


def test_warmup_end_makes_teacher_and_assistant_equal_copies_of_student():
    method, models = make("gta")
    run(method, 3)  # 2 warm-up steps, then step 2 copies before learning
    method2, m2 = make("gta")
    run(method2, 2)
    method2.end_warmup()
    for name in ("teacher", "assistant"):
        assert same(params(m2[name]), params(m2["student"]))
        assert shares_storage(m2[name], m2["student"]) == []


def test_assistant_lr_can_stay_constant():
    method, _ = make("gta", "method.assistant_poly_lr=false", "train.iters=10")
    lrs = method.set_lr(5)
    assert lrs["lr/assistant"] == pytest.approx(method.cfg.train.lr)
    assert lrs["lr/student"] < method.cfg.train.lr


@pytest.mark.parametrize("opts", [[], ["method.cutmix_prob=1.0", "method.confidence_pass=mixed",
                                       "method.joint_forward=true", "method.weight_norm=all",
                                       "method.ema_schedule=ramp", "method.teacher_buffers=own"]])
def test_gta_step_logs_pseudo_label_statistics(opts):
    method, _ = make("gta", *opts, warmup=0)
    logs = method.train_step(*batch(0), 0)
    logged = {"loss/student", "loss/assistant", "pl/kept_fraction", "pl/mean_conf", "pl/accuracy", "pl/accuracy_all"}
    assert logged <= set(logs)
    assert all(isinstance(v, torch.Tensor) for v in logs.values())  # on the device: the step never syncs
    assert 0.7 <= logs["pl/kept_fraction"] <= 0.8 + 1 / 2048  # 20 % of 2048 pixels, rounded down


def test_pseudo_label_accuracy_before_and_after_the_drop_rule():
    from gtaseg.losses import PseudoLabels
    from gtaseg.methods.teacher import pl_class_metrics, pseudo_label_stats

    labels = torch.tensor([[[0, 1, 2, 3, 0, 1]]])
    gt = torch.tensor([[[0, 1, 0, 0, IGNORE, 1]]])  # pixel 4 has no ground truth
    valid = torch.tensor([[[True, True, True, True, True, False]]])  # pixel 5 is padding
    keep = torch.tensor([[[True, True, True, False, True, False]]])
    pl = PseudoLabels(labels, keep.float(), torch.full((1, 1, 6), 0.9), keep, torch.tensor(0.5))
    stats = pseudo_label_stats(pl, labels, valid, gt, num_classes=4)
    assert stats["pl/accuracy_all"] == pytest.approx(2 / 4)  # pixels 0-3: 0 and 1 right
    assert stats["pl/accuracy"] == pytest.approx(2 / 3)  # kept with ground truth: 0, 1, 2
    assert stats["pl/kept_fraction"] == pytest.approx(4 / 5)
    assert stats["pl/threshold"] == pytest.approx(0.5)
    # Per class, over pixels with ground truth: kept as class 0: pixel 0 (right); class 1: pixel 1
    # (right); class 2: pixel 2 (wrong, truth 0); pixel 3 (class 3, truth 0) was dropped.
    assert stats["count/pl_kept"].tolist() == [1, 1, 1, 0] and stats["count/pl_right"].tolist() == [1, 1, 0, 0]
    assert stats["count/pl_gt"].tolist() == [3, 1, 0, 0]
    pr = pl_class_metrics({k: v.tolist() for k, v in stats.items() if k.startswith("count/")})
    assert pr["pl/precision"][:3] == pytest.approx([100, 100, 0]) and math.isnan(pr["pl/precision"][3])
    assert pr["pl/recall"][:2] == pytest.approx([100 / 3, 100]) and math.isnan(pr["pl/recall"][2])


def test_transmission_and_teacher_use_their_own_decays(monkeypatch):
    method, _ = make("gta", "method.ema_decay=0.9", "method.transfer_decay=0.999", warmup=0)
    used = {}
    monkeypatch.setattr(method.transfer, "update", lambda d: used.setdefault("transfer", d))
    monkeypatch.setattr(method.teacher_ema, "update", lambda d: used.setdefault("teacher", d))
    method.train_step(*batch(0), 0)
    assert used == {"transfer": 0.999, "teacher": 0.9}


@pytest.mark.parametrize("joint,sizes", [(False, [2, 2]), (True, [4])])
def test_mean_teacher_student_forwards_labeled_and_unlabeled_as_gta_does(joint, sizes, monkeypatch):
    method, models = make("mean_teacher", f"method.joint_forward={str(joint).lower()}", warmup=0)
    seen = []
    forward = models["student"].forward
    monkeypatch.setattr(models["student"], "forward", lambda x: seen.append(len(x)) or forward(x))
    method.train_step(*batch(0), 0)
    assert seen == sizes


def test_one_epoch_is_a_pass_over_the_unlabeled_set(tmp_path):
    from gtaseg.data import build_datasets
    from gtaseg.engine import iters_per_epoch

    cfg = load_config("demo", ["data.synthetic_num_unlabeled=30", "data.unlabeled_batch_size=4"])
    data = build_datasets(cfg.data)
    assert iters_per_epoch(cfg, data, world=1) == 30 / 4
    assert iters_per_epoch(cfg, data, world=2) == 30 / 8


def test_assistant_feature_perturbation_adds_a_dropped_out_pass_with_the_same_labels(monkeypatch):
    import gtaseg.methods.gta as gta

    method, models = make("gta", "method.assistant_fp=0.5", "method.unsup_weight=2", warmup=0)
    forwards, losses = [], []
    forward, ce = models["assistant"].forward, gta.pseudo_label_ce
    monkeypatch.setattr(models["assistant"], "forward", lambda x, **kw: forwards.append(kw) or forward(x, **kw))
    monkeypatch.setattr(gta, "pseudo_label_ce", lambda logits, pl: losses.append((logits, pl, ce(logits, pl)))
                        or losses[-1][2])
    out = method.train_step(*batch(0), 0)
    assert forwards == [{"fp_dropout": 0.5}]
    (clean, pl1, l1), (dropped, pl2, l2) = losses
    assert pl1 is pl2 and clean.shape == dropped.shape == (2, 3, 32, 32) and not torch.allclose(clean, dropped)
    assert out["loss/assistant"] == pytest.approx(float(2 * (l1 + l2).detach() / 2))
