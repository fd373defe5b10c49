"""The strong photometric perturbation and where the methods apply it."""

import pytest
import torch

from gtaseg.methods.base import cutmix
from gtaseg.methods.perturb import strong_photometric
from test_methods import batch, make


def test_perturbation_is_per_image_reproducible_and_in_range():
    x = torch.rand(8, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    a = strong_photometric(x)
    torch.manual_seed(5)
    b = strong_photometric(x)
    c = strong_photometric(x)
    assert torch.equal(a, b) and not torch.equal(a, c)  # the seed decides everything
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    change = (a - x).abs().mean((1, 2, 3))
    assert change.max() > 0.02 and len(set(change.tolist())) == 8  # each image its own draw


def test_each_operation_does_what_it_says():
    from gtaseg.methods.perturb import _blur, _gray, _hue

    x = torch.rand(2, 3, 16, 16)
    assert torch.allclose(_hue(x, torch.zeros(2)), x, atol=1e-5)  # zero rotation: identity
    assert torch.allclose(_gray(_hue(x, torch.tensor([0.1, 0.3]))), _gray(x), atol=1e-5)  # hue keeps luma
    flat = torch.full((2, 3, 16, 16), 0.4)
    assert torch.allclose(_blur(flat, torch.tensor([0.5, 2.0])), flat)  # blur keeps a flat image
    blurred = _blur(x, torch.tensor([0.1, 2.0]))
    assert torch.allclose(blurred[0], x[0], atol=1e-3) and blurred[1].std() < x[1].std() / 2


@pytest.mark.parametrize("method", ["gta", "mean_teacher"])
def test_teacher_labels_the_clean_view_and_the_learner_sees_the_perturbed_one(method):
    lab, u = batch(0)
    plain, _ = make(method, warmup=0)
    perturbed, _ = make(method, "method.perturb=true", warmup=0)
    view0, pl0, _ = plain.teach(lab, u)
    view1, pl1, _ = perturbed.teach(lab, u)
    assert torch.equal(view0, u.image) and not torch.allclose(view1, u.image, atol=1e-2)
    assert torch.equal(pl0.labels, pl1.labels)  # same teacher, same clean input


def test_perturbation_then_cutmix_keeps_views_and_labels_aligned():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 16, 16)
    labels = torch.arange(3)[:, None, None].expand(3, 16, 16).clone()
    view = strong_photometric(x)
    mixed_view, mixed_clean, mixed_labels = cutmix(view, x, labels)
    for i in range(3):
        src = mixed_labels[i]  # which image each pixel came from
        for j in src.unique().tolist():
            where = src == j
            assert torch.equal(mixed_view[i][:, where], view[j][:, where])
            assert torch.equal(mixed_clean[i][:, where], x[j][:, where])


def test_gta_training_with_perturbation_and_cutmix_runs_and_uses_the_perturbed_view(monkeypatch):
    method, models = make("gta", "method.perturb=true", "method.cutmix_prob=1", warmup=0)
    seen = []
    forward = models["assistant"].forward
    monkeypatch.setattr(models["assistant"], "forward", lambda x: seen.append(x.clone()) or forward(x))
    lab, u = batch(0)
    logs = method.train_step(lab, u, 0)
    assert torch.isfinite(logs["loss/assistant"])
    assert len(seen) == 1 and not torch.allclose(seen[0], u.image, atol=1e-2)
