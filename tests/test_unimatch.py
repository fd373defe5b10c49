"""UniMatch on tiny models: what learns from what, the feature-perturbed pass, the loss of its paper."""

import pytest
import torch

from gtaseg.config import load_config
from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.data.transforms import IGNORE
from gtaseg.distributed import DistInfo
from gtaseg.engine import build_models
from gtaseg.losses import weak_to_strong_ce
from gtaseg.methods import METHODS
from gtaseg.methods.base import cutmix

TINY = ["model.backbone=resnet18", "model.aspp_channels=16", "model.decoder_channels=16",
        "model.low_level_channels=8", "data.num_workers=0", "method.name=unimatch"]


def make(*overrides: str, warmup: int = 0):
    cfg = load_config("demo", [*TINY, *overrides])
    torch.manual_seed(0)
    models = build_models(cfg, 3, torch.device("cpu"), DistInfo())
    return METHODS["unimatch"](cfg, models, DistInfo(), warmup), models["student"]


def batch(seed: int = 0, labeled_ignore: bool = False):
    g = torch.Generator().manual_seed(seed)
    y_l = torch.randint(0, 3, (2, 32, 32), generator=g)
    if labeled_ignore:
        y_l.fill_(IGNORE)
    labeled = LabeledBatch(torch.rand(2, 3, 32, 32, generator=g), y_l)
    unlabeled = UnlabeledBatch(torch.rand(2, 3, 32, 32, generator=g), torch.randint(0, 3, (2, 32, 32), generator=g),
                               torch.ones(2, 32, 32, dtype=torch.bool))
    return labeled, unlabeled


def params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("threshold,moves", [(0.0, True), (1.01, False)])
def test_the_model_learns_from_its_own_confident_weak_labels_only(threshold, moves):
    # No labeled signal (all ignore) and no weight decay: only self-labels can move the weights, and
    # a threshold above 1 keeps none of them.
    method, model = make("train.weight_decay=0", f"method.threshold={threshold}")
    before = params(model)
    logs = method.train_step(*batch(labeled_ignore=True), 0)
    changed = any(not torch.equal(a, b) for a, b in zip(before, params(model)))
    assert changed == moves
    assert logs["pl/kept_fraction"].item() == (1.0 if moves else 0.0)


def test_paper_threshold_is_the_default():
    method, _ = make()
    assert method.threshold == 0.95
    assert make("method.threshold=0.7")[0].threshold == 0.7


def test_feature_perturbed_pass_shares_the_features_and_drops_channels():
    _, model = make()
    model.train()
    x = torch.rand(2, 3, 32, 32)
    torch.manual_seed(1)
    logits, logits_fp = model(x, fp_dropout=0.5)
    assert logits.shape == logits_fp.shape == (2, 3, 32, 32)
    assert not torch.allclose(logits, logits_fp)
    model.eval()  # BatchNorm on running statistics: the clean half equals a plain forward
    clean, _ = model(x, fp_dropout=0.5)
    assert torch.allclose(clean, model(x), atol=1e-5)


def test_step_forwards_labeled_plus_weak_then_the_two_strong_views(monkeypatch):
    method, model = make("method.cutmix_prob=0")
    seen = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda x, **kw: seen.append((x.clone(), kw)) or forward(x, **kw))
    labeled, unlabeled = batch()
    method.train_step(labeled, unlabeled, 0)
    (first, kw1), (second, kw2) = seen
    assert kw1 == {"fp_dropout": 0.5} and kw2 == {}
    assert torch.equal(first, torch.cat([labeled.image, unlabeled.image]))  # the weak view is the clean one
    s1, s2 = second.chunk(2)
    assert not torch.allclose(s1, unlabeled.image, atol=1e-2) and not torch.allclose(s1, s2, atol=1e-2)


def test_loss_divides_by_all_valid_pixels():
    logits = torch.zeros(1, 2, 1, 4)
    labels = torch.zeros(1, 1, 4, dtype=torch.long)
    conf = torch.tensor([[[0.99, 0.99, 0.5, 0.99]]])
    valid = torch.tensor([[[True, True, True, False]]])
    ce = torch.log(torch.tensor(2.0))  # uniform logits over 2 classes
    # two confident valid pixels, divided by three valid ones
    assert weak_to_strong_ce(logits, labels, conf, valid, 0.95) == pytest.approx(2 * ce / 3)
    assert weak_to_strong_ce(logits, labels, conf, torch.zeros_like(valid), 0.95) == 0


def test_per_image_cutmix_mixes_only_the_images_that_win_the_coin():
    torch.manual_seed(0)
    x = torch.arange(4.0)[:, None, None, None].expand(4, 1, 8, 8).clone()
    assert torch.equal(cutmix(x, per_image_p=0.0)[0], x)
    mixed = cutmix(x, per_image_p=1.0)[0]
    assert all((mixed[i] == (i + 1) % 4).any() for i in range(4))


def test_unimatch_trains_end_to_end_with_the_loop(tmp_path):
    from gtaseg import checkpoint
    from gtaseg.engine import train

    args = [*TINY, "train.iters=4", "train.eval_every=0", "train.save_every=2", "method.warmup_iters=1",
            "method.cutmix_prob=0.5", "data.synthetic_num_unlabeled=16", "data.synthetic_num_eval=4",
            "train.progress=false", f"train.out_dir={tmp_path}"]
    results = train(load_config("demo", args))
    assert 0 <= results["teacher"]["miou"] <= 100  # the student answers for the teacher
    state = checkpoint.load(tmp_path / "checkpoints/latest.pt")
    assert set(state["method"]["models"]) == {"student"} and state["step"] == 4
