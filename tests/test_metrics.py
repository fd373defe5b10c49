import math

import pytest
import torch

from gtaseg.metrics import ConfusionMatrix


def test_against_hand_computed_example():
    # 3 classes; ground truth and prediction over 8 pixels, one ignored.
    gt = torch.tensor([0, 0, 1, 1, 1, 2, 2, 255])
    pred = torch.tensor([0, 1, 1, 1, 2, 2, 0, 1])
    cm = ConfusionMatrix(3)
    cm.update(pred, gt)
    assert cm.mat.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 1]]
    m = cm.compute()
    # IoU_c = TP / (GT_c + Pred_c - TP): c0 1/(2+2-1), c1 2/(3+3-2), c2 1/(2+2-1)
    assert m["iou"] == pytest.approx([100 / 3, 50.0, 100 / 3])
    assert m["miou"] == pytest.approx((100 / 3 + 50 + 100 / 3) / 3)
    assert m["pixel_acc"] == pytest.approx(400 / 7)


def test_absent_class_is_not_counted():
    cm = ConfusionMatrix(4)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    m = cm.compute()
    assert m["miou"] == 100.0 and math.isnan(m["iou"][3])


def test_accumulates_over_batches():
    a, b = ConfusionMatrix(2), ConfusionMatrix(2)
    p, g = torch.randint(0, 2, (2, 5, 5)), torch.randint(0, 2, (2, 5, 5))
    a.update(p, g)
    b.update(p[:1], g[:1])
    b.update(p[1:], g[1:])
    assert torch.equal(a.mat, b.mat)
