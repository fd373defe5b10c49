import math

import pytest
import torch
import torch.nn.functional as F

from gtaseg.losses import IGNORE, confidence, pseudo_label_ce, pseudo_labels, supervised_ce


def test_supervised_ce_all_ignore_is_zero_not_nan():
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = supervised_ce(logits, torch.full((2, 4, 4), IGNORE))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(logits.grad) == 0


def test_supervised_ce_matches_mean_over_labeled_pixels():
    logits = torch.randn(2, 3, 4, 4)
    mask = torch.randint(0, 3, (2, 4, 4))
    mask[0, 0] = IGNORE
    assert torch.allclose(supervised_ce(logits, mask), F.cross_entropy(logits, mask, ignore_index=IGNORE))


def test_drop_percent_keeps_80_percent_and_weights_average_one():
    torch.manual_seed(0)
    conf, labels = confidence(torch.randn(4, 5, 32, 32) * 3)
    pl = pseudo_labels(conf, labels, drop_percent=20)
    assert pl.keep.float().mean().item() == pytest.approx(0.8, abs=1 / conf.numel())
    assert pl.weights[pl.keep].mean().item() == pytest.approx(1.0, rel=1e-5)
    assert (pl.weights[~pl.keep] == 0).all()
    assert (pl.labels[~pl.keep] == IGNORE).all() and (pl.labels[pl.keep] == labels[pl.keep]).all()
    assert (conf[pl.keep] > pl.threshold).all() and (conf[~pl.keep] <= pl.threshold).all()


def test_valid_mask_excludes_pixels_from_percentile_and_loss():
    conf = torch.tensor([[[0.9, 0.8, 0.1, 0.2]]])
    valid = torch.tensor([[[True, True, False, False]]])
    pl = pseudo_labels(conf, torch.zeros(1, 1, 4, dtype=torch.long), valid, drop_percent=50)
    assert pl.keep.tolist() == [[[True, False, False, False]]]


def test_fixed_threshold():
    conf = torch.tensor([[[0.95, 0.5, 0.7]]])
    pl = pseudo_labels(conf, torch.zeros(1, 1, 3, dtype=torch.long), threshold=0.6)
    assert pl.keep.tolist() == [[[True, False, True]]]


def test_large_tau_gives_uniform_weights_and_tau_zero_is_proportional_to_confidence():
    torch.manual_seed(1)
    conf, labels = confidence(torch.randn(2, 4, 16, 16) * 2)
    big = pseudo_labels(conf, labels, reweight="laplace", tau=1e6)
    assert torch.allclose(big.weights[big.keep], torch.ones(()), atol=1e-5)
    prop = pseudo_labels(conf, labels, reweight="confidence")
    ratio = prop.weights[prop.keep] / conf[prop.keep]
    assert torch.allclose(ratio, ratio[0].expand_as(ratio), rtol=1e-5)
    none = pseudo_labels(conf, labels, reweight="none")
    assert torch.equal(none.weights, none.keep.float())


def test_loss_equals_hand_computation():
    # 1 image, 2 classes, 4 pixels; teacher confidences 0.9, 0.6, 0.7, 0.55 -> drop 25 %: 0.55 goes.
    conf = torch.tensor([[[0.9, 0.6], [0.7, 0.55]]])
    labels = torch.tensor([[[0, 1], [1, 0]]])
    pl = pseudo_labels(conf, labels, drop_percent=25, reweight="laplace", tau=1.0)
    assert pl.keep.tolist() == [[[True, True], [True, False]]]
    s = [1.9, 1.6, 1.7]
    w = [v / sum(s) * 3 for v in s]
    assert pl.weights.flatten()[:3].tolist() == pytest.approx(w, rel=1e-6)
    student = torch.tensor([[[[2.0, 0.0], [1.0, 3.0]], [[0.0, 1.0], [0.5, 0.0]]]])  # [1,2,2,2]
    # CE per kept pixel: p0 label 0, p1 label 1, p2 label 1
    ce = [math.log(1 + math.exp(0 - 2)), math.log(1 + math.exp(0 - 1)), math.log(1 + math.exp(1 - 0.5))]
    expected = sum(wi * ci for wi, ci in zip(w, ce)) / 3
    assert pseudo_label_ce(student, pl).item() == pytest.approx(expected, rel=1e-6)


def test_official_weight_norm_counts_dropped_pixels():
    conf = torch.tensor([[[0.9, 0.6], [0.7, 0.55]]])
    labels = torch.zeros(1, 2, 2, dtype=torch.long)
    pl = pseudo_labels(conf, labels, drop_percent=25, weight_norm="all")
    denom = 1.9 + 1.6 + 1.7 + 1.0  # the dropped pixel counts as (0 + tau)
    assert pl.weights[0, 0, 0].item() == pytest.approx(1.9 / denom * 3, rel=1e-6)


def test_nothing_kept_gives_zero_loss():
    conf = torch.full((1, 2, 2), 0.5)
    pl = pseudo_labels(conf, torch.zeros(1, 2, 2, dtype=torch.long), threshold=0.9)
    assert pseudo_label_ce(torch.randn(1, 3, 2, 2), pl).item() == 0.0


def test_class_scope_drops_the_percentile_within_each_predicted_class():
    torch.manual_seed(0)
    conf, labels = confidence(torch.randn(2, 4, 16, 16) * 2)
    conf = torch.where(labels == 3, conf * 0.5, conf)  # a "thin" class: always less confident
    pl = pseudo_labels(conf, labels, drop_percent=20, drop_scope="class", num_classes=4)
    for k in range(4):
        c = conf[labels == k]
        n = int(c.numel() * 0.2)
        gamma = c.kthvalue(n).values if n else -1.0
        assert torch.equal(pl.keep[labels == k], c > gamma)  # each class keeps its own top 80 %
    # The paper's batch-wide percentile drops that class first; per class it keeps about 80 % of it.
    batch = pseudo_labels(conf, labels, drop_percent=20)
    assert pl.keep[labels == 3].float().mean() > 0.75 > batch.keep[labels == 3].float().mean()
    assert pl.weights[pl.keep].mean().item() == pytest.approx(1.0, rel=1e-5)


def test_class_percentiles_handle_empty_classes_and_inputs():
    from gtaseg.losses import class_percentiles

    conf = torch.tensor([0.3, 0.1, 0.2, 0.9, 0.8])
    labels = torch.tensor([0, 0, 0, 2, 2])
    # class 0: 3 pixels, 50 % -> k = 1 -> 0.1; class 1: none; class 2: 2 pixels -> k = 1 -> 0.8
    assert class_percentiles(conf, labels, 50, 3).tolist() == pytest.approx([0.1, -1.0, 0.8])
    assert class_percentiles(conf[:0], labels[:0], 50, 3).tolist() == [-1.0, -1.0, -1.0]
