"""The training loop, evaluation modes, checkpoints and the CLI on tiny runs."""

import json
from pathlib import Path

import pytest
import torch

from gtaseg import checkpoint
from gtaseg.cli import main
from gtaseg.config import load_config
from gtaseg.data.loaders import SeededSampler
from gtaseg.engine import train
from gtaseg.inference import center_crop, predict_probs
from gtaseg.models import build_segmenter

TINY = ["model.aspp_channels=16", "model.decoder_channels=16", "model.low_level_channels=8",
        "data.synthetic_num_unlabeled=16", "data.synthetic_num_eval=4", "data.synthetic_size=48",
        "data.crop_size=40", "data.num_workers=0", "train.progress=false"]


def tiny(tmp_path: Path, *overrides: str, name: str = "run"):
    return load_config("demo", [*TINY, f"train.out_dir={tmp_path / name}", *overrides])


def model_and_image(h=37, w=53):
    cfg = load_config("demo", TINY)
    torch.manual_seed(0)
    return build_segmenter(cfg.model, 5).eval(), torch.rand(2, 3, h, w)


@torch.no_grad()
def test_sliding_window_equals_whole_image_when_window_covers_it():
    model, x = model_and_image()
    whole = predict_probs(model, x, 5, "whole")
    assert torch.equal(predict_probs(model, x, 5, "sliding", window=64, stride=32), whole)
    assert torch.equal(predict_probs(model, x, 5, "sliding", window=53, stride=10), whole)


@torch.no_grad()
def test_sliding_window_covers_every_pixel_with_overlap_average():
    model, x = model_and_image()
    probs = predict_probs(model, x, 5, "sliding", window=24, stride=16)
    assert probs.shape == (2, 5, 37, 53)
    assert torch.allclose(probs.sum(1), torch.ones(2, 37, 53), atol=1e-5)  # every pixel covered
    # a pixel seen by one window only equals that window's own prediction
    corner = model(x[:, :, :24, :24]).softmax(1)[:, :, :8, :8]
    assert torch.allclose(probs[:, :, :8, :8], corner, atol=1e-6)


@torch.no_grad()
def test_flip_averages_mirrored_prediction():
    model, x = model_and_image()
    p = predict_probs(model, x, 5, "whole", flip=True)
    expected = (model(x).softmax(1) + model(x.flip(-1)).softmax(1).flip(-1)) / 2
    assert torch.allclose(p, expected, atol=1e-6)


def test_center_crop_pads_with_ignore():
    x, y = torch.ones(1, 3, 10, 20), torch.zeros(1, 10, 20, dtype=torch.long)
    cx, cy = center_crop(x, y, 12)
    assert cx.shape[-2:] == (12, 12) and (cy[:, 0] == 255).all() and (cy[:, 1:11] == 0).all()
    assert (cx[:, :, 0] == 0).all()


def test_sampler_positions_resume_and_shard():
    s = SeededSampler(10, seed=3, rank=0, world=1)
    it = iter(s)
    first = [next(it) for _ in range(25)]
    assert sorted(i for i, _ in first[:10]) == list(range(10))  # an epoch is a permutation
    resumed = iter(SeededSampler(10, seed=3, start=13))
    assert [next(resumed) for _ in range(12)] == first[13:]
    ranks = [[next(iter_) for _ in range(5)] for iter_ in (iter(SeededSampler(10, 3, r, 2)) for r in range(2))]
    assert sorted(i for r in ranks for i, _ in r) == list(range(10))


def test_train_writes_run_dir_and_eval_prints_miou(tmp_path, capsys):
    cfg = tiny(tmp_path, "train.iters=4", "train.eval_every=2", "train.save_every=2", "method.warmup_iters=2",
               "train.eval_models=teacher,student,assistant")
    results = train(cfg)
    run = tmp_path / "run"
    assert (run / "config.yaml").is_file() and (run / "checkpoints/latest.pt").is_file()
    assert (run / "checkpoints/best.pt").is_file() and (run / "tensorboard").is_dir()
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [e["step"] for e in evals] == [2, 4] and "miou/assistant" in evals[-1]
    assert any("pl/kept_fraction" in r for r in records if r["kind"] == "train")
    state = checkpoint.load(run / "checkpoints/latest.pt")
    assert state["step"] == 4 and set(state["method"]["models"]) == {"student", "teacher", "assistant"}
    assert set(state["method"]["learners"]) == {"student", "assistant"}
    capsys.readouterr()
    assert main(["eval", str(run / "checkpoints/latest.pt"), "model=teacher"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"mIoU: {results['teacher']['miou']:.2f}"
    assert json.loads((run / "eval/val_teacher.json").read_text())["miou"] == pytest.approx(results["teacher"]["miou"])
    assert main(["eval", str(run / "checkpoints/latest.pt"), "eval.mode=sliding", "eval.window=32",
                 "eval.stride=16", "eval.flip=true", "model=student"]) == 0


class Interrupt(Exception):
    pass


def test_resume_is_exact(tmp_path, monkeypatch):
    args = ("train.iters=6", "train.eval_every=0", "train.save_every=3", "method.warmup_iters=2",
            "method.cutmix_prob=0.5")
    train(tiny(tmp_path, *args, name="straight"))
    from gtaseg.methods import GTA

    step_fn = GTA.train_step

    def stop_at_4(self, *a):
        if a[-1] == 4:  # iteration 4 starts after the checkpoint of iteration 3
            raise Interrupt
        return step_fn(self, *a)

    monkeypatch.setattr(GTA, "train_step", stop_at_4)
    with pytest.raises(Interrupt):
        train(tiny(tmp_path, *args, name="halves"))
    monkeypatch.setattr(GTA, "train_step", step_fn)
    assert checkpoint.load(tmp_path / "halves/checkpoints/latest.pt")["step"] == 3
    train(tiny(tmp_path, *args, name="halves"))  # same out_dir: resumes at iteration 3
    a = checkpoint.load(tmp_path / "straight/checkpoints/latest.pt")["method"]
    b = checkpoint.load(tmp_path / "halves/checkpoints/latest.pt")["method"]
    for name in a["models"]:
        for k, v in a["models"][name].items():
            assert torch.equal(v, b["models"][name][k]), (name, k)
    sa = a["learners"]["assistant"]["optimizer"]["state"]
    sb = b["learners"]["assistant"]["optimizer"]["state"]
    assert all(torch.equal(sa[k]["momentum_buffer"], sb[k]["momentum_buffer"]) for k in sa)


def test_poly_lr_is_pure_function_of_iteration():
    from gtaseg.methods import poly_lr_factor

    assert poly_lr_factor(0, 100, 0.9) == 1.0
    assert poly_lr_factor(50, 100, 0.9) == pytest.approx(0.5**0.9)
    assert poly_lr_factor(100, 100, 0.9) == 0.0


def test_resume_reads_the_checkpoint_into_host_memory(tmp_path, monkeypatch):
    # On a GPU, a checkpoint mapped to the device brings RNG states that torch cannot restore.
    cfg = tiny(tmp_path, "train.iters=2", "train.eval_every=0", "train.save_every=2", name="done")
    train(cfg)
    seen = []
    real_load = torch.load

    def recording_load(*a, **kw):
        seen.append(kw.get("map_location"))
        return real_load(*a, **kw)

    monkeypatch.setattr(checkpoint.torch, "load", recording_load)
    # resumes at its end
    train(tiny(tmp_path, "train.iters=2", "train.eval_every=0", "train.save_every=2", name="done"))
    assert seen and all(m == "cpu" for m in seen), seen


def test_one_pass_evaluation_of_several_models_matches_separate_ones(tmp_path):
    import copy

    from gtaseg.data import build_datasets
    from gtaseg.data.loaders import eval_loader
    from gtaseg.distributed import DistInfo
    from gtaseg.evaluation import evaluate, evaluate_models
    from gtaseg.models import build_segmenter

    cfg = tiny(tmp_path)
    data = build_datasets(cfg.data)
    torch.manual_seed(0)
    a = build_segmenter(cfg.model, data.num_classes)
    b = copy.deepcopy(a)
    torch.nn.init.normal_(b.classifier.weight if hasattr(b.classifier, "weight") else next(b.predictor.parameters()))
    loader = eval_loader(data.eval, cfg, DistInfo())
    both = evaluate_models({"a": a, "b": b, "again": a}, loader, data.num_classes, cfg, torch.device("cpu"))
    assert both["a"] == evaluate(a, loader, data.num_classes, cfg, torch.device("cpu"))
    assert both["b"] == evaluate(b, loader, data.num_classes, cfg, torch.device("cpu"))
    assert both["a"] != both["b"] and both["again"] == both["a"]


def test_metrics_log_three_models_per_class_and_pseudo_label_precision_recall(tmp_path):
    cfg = tiny(tmp_path, "train.iters=6", "method.warmup_iters=2", "train.log_every=2", "train.eval_every=3",
               "train.eval_models=teacher,student,assistant", "method.drop_scope=class", "method.perturb=true")
    train(cfg)
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["kind"] == "eval"]
    assert [e["step"] for e in evals] == [3, 6]
    for name in ("teacher", "student", "assistant"):
        assert len(evals[-1][f"iou/{name}"]) == 5 and 0 <= evals[-1][f"miou/{name}"] <= 100
    after_warmup = [r for r in records if r["kind"] == "train" and r["step"] > 2]
    for line in after_warmup:
        precision, recall = line["pl/precision"], line["pl/recall"]
        assert len(precision) == len(recall) == 5
        seen = [p for p in precision if p == p]  # NaN: no pixel kept as that class
        assert seen and all(0 <= p <= 100 for p in seen)
        assert not any(k.startswith("count/") for k in line)


def test_resume_with_changed_settings_lists_them_and_accepts_only_named_changes(tmp_path):
    from gtaseg.config import ConfigError

    args = ("train.iters=2", "train.eval_every=0", "method.warmup_iters=1")
    train(tiny(tmp_path, *args))
    with pytest.raises(ConfigError) as err:
        train(tiny(tmp_path, *args, "train.lr=0.5", "train.iters=3", "train.log_every=1"))  # log_every is free
    msg = str(err.value)
    assert "train.lr: 0.01 in the checkpoint, 0.5 now" in msg and "train.iters: 2 in the checkpoint, 3 now" in msg
    assert "log_every" not in msg and msg.endswith("train.resume_changes=train.iters,train.lr")
    assert "lr: 0.01" in (tmp_path / "run" / "config.yaml").read_text()  # the refused value was not recorded
    train(tiny(tmp_path, "train.iters=3", "train.eval_every=0", "method.warmup_iters=1",
               "train.resume_changes=train.iters"))
    assert checkpoint.load(tmp_path / "run/checkpoints/latest.pt")["step"] == 3


def test_starting_over_never_deletes_a_run_silently(tmp_path, capsys):
    from gtaseg.config import ConfigError

    args = ("train.iters=2", "train.eval_every=0", "method.warmup_iters=1")
    train(tiny(tmp_path, *args))
    with pytest.raises(ConfigError, match=r"already holds a run \(checkpoint at iteration 2\).*train.overwrite=true"):
        train(tiny(tmp_path, *args, "train.resume=false"))
    assert checkpoint.load(tmp_path / "run/checkpoints/latest.pt")["step"] == 2
    lines = (tmp_path / "run/metrics.jsonl").read_text()
    train(tiny(tmp_path, "train.iters=1", "train.eval_every=0", "method.warmup_iters=1", "train.resume=false",
               "train.overwrite=true"))
    assert "deleted checkpoints, metrics.jsonl" in capsys.readouterr().err
    assert checkpoint.load(tmp_path / "run/checkpoints/latest.pt")["step"] == 1
    assert len((tmp_path / "run/metrics.jsonl").read_text()) < len(lines)  # one run's records, not two


def test_a_run_folder_in_use_is_refused(tmp_path):
    from gtaseg.config import ConfigError
    from gtaseg.runs import run_lock

    with run_lock(tmp_path / "run"):
        with pytest.raises(ConfigError, match=r"is in use by process \d+ started"):
            train(tiny(tmp_path, "train.iters=1"))
    train(tiny(tmp_path, "train.iters=1", "train.eval_every=0", "method.warmup_iters=0"))  # free again


def test_a_run_that_ends_inside_warm_up_says_so(tmp_path, capsys):
    train(tiny(tmp_path, "train.iters=2", "method.warmup_iters=5", "train.eval_every=0"))
    err = capsys.readouterr().err
    assert "into " + str(tmp_path / "run") in err and "ended inside warm-up" in err
    assert f"gtaseg report {tmp_path / 'run'}" in err
