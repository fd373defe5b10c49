"""UniMatch (Yang et al., CVPR 2023): weak-to-strong consistency with a dual-stream perturbation,
and no teacher. The model labels its own weak view with a fixed confidence threshold. Two
independently strong-perturbed views (image level) and one pass with dropout on the features
(feature level) learn from those labels. Step numbers follow the paper's method section.

Differences from the official code, all in docs/methods.md:
- The CutMix source is the next image of the same batch, not a second unlabeled batch scored by an
  extra eval-mode forward.
- The CutMix box is the project's fixed half-area box.
- The CutMix coin is drawn per image with probability method.cutmix_prob.
- Warm-up follows method.warmup_iters; the paper has none, which is warmup_iters=0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from gtaseg.data.loaders import LabeledBatch, UnlabeledBatch
from gtaseg.data.transforms import IGNORE
from gtaseg.losses import PseudoLabels, confidence, supervised_ce, weak_to_strong_ce
from gtaseg.methods.base import Learner, Method, cutmix
from gtaseg.methods.perturb import strong_photometric
from gtaseg.methods.teacher import pseudo_label_stats

PAPER_THRESHOLD = 0.95  # tau of the paper, used when method.threshold is -1
# The paper's weights: L = (L_s + L_u) / 2 with L_u = 0.5 L_fp + 0.25 (L_s1 + L_s2).
FP_WEIGHT, STRONG_WEIGHT = 0.5, 0.25


class UniMatch(Method):
    def __init__(self, cfg, models, dist, warmup: int = 0, iters: int | None = None):
        super().__init__(cfg, models, dist, warmup, iters)
        self.learners = {"student": Learner(models["student"], cfg, dist)}
        m = cfg.method
        self.threshold = m.threshold if m.threshold >= 0 else PAPER_THRESHOLD

    def train_step(self, labeled: LabeledBatch, unlabeled: UnlabeledBatch, step: int) -> dict[str, Tensor]:
        if step < self.warmup:
            return self.supervised_step(labeled)
        m, model = self.cfg.method, self.learners["student"]
        x_l, x_w, n_l = labeled.image, unlabeled.image, len(labeled.image)

        # 1. One pass over the labeled and weak images. The second output is the predictor applied to
        #    the same features with channel dropout: the feature-level perturbation.
        with self.autocast():
            logits, logits_fp = model(torch.cat([x_l, x_w]), fp_dropout=m.fp_dropout)
        logits_l, logits_w = logits.split([n_l, len(x_w)])
        logits_fp = logits_fp[n_l:]

        # 2. The weak view labels itself (no gradient); only pixels with confidence >= tau teach.
        conf, labels = confidence(logits_w.detach())
        valid = unlabeled.valid

        # 3. Two strong views, perturbed independently. Each takes CutMix boxes from the next image,
        #    together with that image's labels, confidences and validity.
        views = [(strong_photometric(x_w), labels, conf, valid) for _ in range(2)]
        if m.cutmix_prob > 0:
            views = [cutmix(*view, per_image_p=m.cutmix_prob) for view in views]
        with self.autocast():
            logits_s1, logits_s2 = model(torch.cat([views[0][0], views[1][0]])).chunk(2)

            # 4. Losses with the paper's weights
            loss_x = supervised_ce(logits_l, labeled.mask)
            loss_fp = weak_to_strong_ce(logits_fp, labels, conf, valid, self.threshold)
            loss_s = [weak_to_strong_ce(out, *view[1:], self.threshold)
                      for out, view in zip((logits_s1, logits_s2), views)]
            loss_u = FP_WEIGHT * loss_fp + STRONG_WEIGHT * (loss_s[0] + loss_s[1])
            loss = (loss_x + m.unsup_weight * loss_u) / 2
        model.step(loss)

        keep = valid & (conf >= self.threshold)
        pl = PseudoLabels(labels.masked_fill(~keep, IGNORE), keep.float(), conf, keep, conf.new_tensor(self.threshold))
        return {"loss/student": loss_x.detach(), "loss/strong": (loss_s[0] + loss_s[1]).detach() / 2,
                "loss/fp": loss_fp.detach(),
                **pseudo_label_stats(pl, labels, valid, unlabeled.mask, logits.shape[1])}
