"""Command line: gtaseg train | eval | predict | compare | report | export | configs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gtaseg import __version__
from gtaseg.roles import ROLES

EPILOG_TRAIN = """examples:
  gtaseg train                                   # the built-in demo (synthetic data, CPU-sized)
  gtaseg train demo method.name=sup_only train.iters=200 train.out_dir=runs/try1
  gtaseg train camvid_cpu data.split=1_8 train.seed=1
  gtaseg train my_config.yaml model.backbone=resnet50
  torchrun --nproc_per_node=4 -m gtaseg train voc_classic data.split=183

  gtaseg train train.iters=50 method.name=sup_only   # overrides alone: the demo config

Overrides are SECTION.KEY=VALUE with SECTION in data, model, method, train, eval. The keys asked for first:
  train.out_dir=DIR        run folder (locked while in use; re-running resumes from checkpoints/latest.pt)
  train.device=cpu|cuda    train.amp=none|bf16|fp16    train.threads=N (0: one per core)
  train.resume=false train.overwrite=true      start over, deleting the old run (it says what it deletes)
  method.name=gta|mean_teacher|sup_only        data.root=DIR data.split=1_8 (camvid) | 183 (voc) | 100 (cityscapes)
gtaseg configs NAME [KEY=VALUE ...] prints every key with its value."""

EPILOG_EVAL = """examples:
  gtaseg eval runs/demo/checkpoints/best.pt
  gtaseg eval runs/camvid/checkpoints/latest.pt data.eval_split=test
  gtaseg eval CKPT eval.mode=sliding eval.window=512 eval.stride=341 eval.flip=true model=student

The last line printed is 'mIoU: NN.NN'. Results are also written to RUN_DIR/eval/SPLIT_MODEL.json."""


EPILOG_PREDICT = """examples:
  gtaseg predict runs/demo/checkpoints/best.pt photo.jpg --out preds
  gtaseg predict CKPT images/ more.png list.txt --out preds --batch-size 8 --device cuda
  gtaseg predict CKPT big_images/ --out preds eval.mode=sliding eval.window=512 eval.stride=341 eval.flip=true

INPUT is an image (jpg/jpeg/png/bmp), a folder (its images, sorted) or a .txt list (one path per line,
relative to the list's folder). For each image NAME, writes OUT/NAME.png (palette PNG: pixel values are
class indices, colours the dataset's) and OUT/NAME_overlay.jpg (mask blended on the image)."""

EPILOG_COMPARE = """examples:
  gtaseg compare runs/sup/checkpoints/best.pt runs/gta/checkpoints/best.pt --labels SupOnly GTA-Seg \\
      --images a.jpg b.jpg --masks a.png b.png --out grid.png

One row per image: image | each checkpoint's prediction | ground truth (when --masks is given)."""

EPILOG_REPORT = """examples:
  gtaseg report runs/demo                      # writes runs/demo/report.html
  gtaseg report runs/demo --out demo.html --examples 6
  gtaseg report runs/gta --compare runs/sup_only runs/mean_teacher   # the three methods' curves"""

EPILOG_EXPORT = """examples:
  gtaseg export runs/demo/checkpoints/best.pt --format onnx
  gtaseg export CKPT --format torchscript --out model.torchscript.pt --model student

Input: float32 [B,3,H,W] RGB in [0,1]; output: logits [B,K,H,W]; batch, height and width are dynamic.
The exported file is checked against PyTorch on a random input (max |difference| is printed)."""

EPILOG_SUGGEST = """examples:
  gtaseg suggest runs/camvid_gta --budget 23                  # teacher vs assistant disagreement
  gtaseg suggest runs/camvid_gta --budget 23 --spread         # no two near-identical video frames
  gtaseg suggest runs/camvid_mt --budget 23 --score student data.root=CAMVID

Writes OUT/ranking.csv, chosen.txt, index.html (the chosen images with prediction and score map) and
splits/NAME/labeled.txt + unlabeled.txt: train on it with data.split_dir=OUT/splits data.split=NAME."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gtaseg", description="Semi-supervised semantic segmentation with the Gentle "
                                "Teaching Assistant (GTA-Seg), against Mean Teacher, UniMatch and SupOnly.")
    p.add_argument("--version", action="version", version=f"gtaseg {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # --debug is accepted after the command too; SUPPRESS keeps `gtaseg --debug CMD` from being reset.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks on errors")

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[debug], **kw)


    t = command("train", help="train a model (default config: demo)", epilog=EPILOG_TRAIN,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train with a built-in config name or a YAML file, plus KEY=VALUE overrides.")
    t.add_argument("config", nargs="?", default="demo", help="built-in config name or YAML path (default: demo)")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.iters=200")

    e = command("eval", help="evaluate a checkpoint (per-class IoU, pixel accuracy, mIoU)", epilog=EPILOG_EVAL,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Evaluate a checkpoint on the validation (or data.eval_split=test) set.")
    e.add_argument("checkpoint", help="a checkpoint (.pt) written by gtaseg train, or its run folder (latest.pt)")
    e.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides (eval.*, data.eval_split, data.root, ...)")
    e.add_argument("--model", choices=ROLES, default=None,
                   help="which network of the checkpoint (default teacher; also model=NAME)")

    pr = command("predict", help="segment images with a checkpoint (masks + overlays)", epilog=EPILOG_PREDICT,
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Predict class masks for images, folders or list files.")
    pr.add_argument("checkpoint", help="a checkpoint (.pt) written by gtaseg train, or its run folder (latest.pt)")
    pr.add_argument("inputs", nargs="+", metavar="INPUT|KEY=VALUE",
                    help="images, folders, .txt lists; and eval.* overrides such as eval.mode=sliding")
    pr.add_argument("--out", required=True, help="output folder")
    _model_options(pr)
    pr.add_argument("--batch-size", type=int, default=4, help="images of equal size per forward pass (default 4)")
    pr.add_argument("--alpha", type=float, default=0.5, help="mask weight in the overlays (default 0.5)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")

    cm = command("compare", help="side-by-side predictions of several checkpoints (one PNG grid)",
                        epilog=EPILOG_COMPARE, formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Compare checkpoints qualitatively on a few images.")
    cm.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="checkpoints (.pt) or run folders to compare")
    cm.add_argument("--images", nargs="+", required=True, metavar="IMAGE", help="images, folders or .txt lists")
    cm.add_argument("--masks", nargs="+", metavar="MASK",
                    help="ground-truth masks (class-index PNGs), in the order of --images")
    cm.add_argument("--labels", nargs="+", metavar="LABEL", help="column titles, one per checkpoint")
    cm.add_argument("--out", required=True, help="output PNG")
    _model_options(cm)
    cm.add_argument("--tile-height", type=int, default=256, help="height of each tile in pixels (default 256)")

    rp = command("report", help="HTML report of a training run (curves, per-class IoU, examples)",
                        epilog=EPILOG_REPORT, formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Write a self-contained HTML page (inline charts and images) about a run.")
    rp.add_argument("run_dir", help="a run directory (train.out_dir), or a checkpoint inside its checkpoints/")
    rp.add_argument("--out", help="output HTML file (default: RUN_DIR/report.html)")
    rp.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR",
                    help="other run directories: their validation mIoU curves are drawn with this run's")
    rp.add_argument("--examples", type=int, default=4, help="prediction examples to show (default 4; 0: none)")
    rp.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"), help="device for the examples")

    ex = command("export", help="export a checkpoint's network to ONNX or TorchScript", epilog=EPILOG_EXPORT,
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        description="Export the network (input [0,1] RGB, output logits) for deployment.")
    ex.add_argument("checkpoint", help="a checkpoint (.pt) written by gtaseg train, or its run folder (latest.pt)")
    ex.add_argument("--format", required=True, choices=("onnx", "torchscript"), help="output format")
    ex.add_argument("--out", help="output file (default: next to the checkpoint, e.g. best_teacher.onnx)")
    ex.add_argument("--model", default="teacher", choices=ROLES,
                    help="which network of the checkpoint (default teacher)")
    ex.add_argument("--height", type=int, default=512, help="height of the example input used to trace (default 512)")
    ex.add_argument("--width", type=int, default=512, help="width of the example input used to trace (default 512)")
    ex.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ex.add_argument("--dynamo", action="store_true", help="ONNX: use the torch.export-based exporter (opset >= 18)")

    sg = command("suggest", help="which unlabeled images to label next (ranking, a new split, a page)",
                 epilog=EPILOG_SUGGEST, formatter_class=argparse.RawDescriptionHelpFormatter,
                 description="Rank the unlabeled images of a run's split and write the split with the chosen ones "
                             "labeled.")
    sg.add_argument("checkpoint", help="a checkpoint (.pt) written by gtaseg train, or its run folder (latest.pt)")
    sg.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.root=DIR")
    sg.add_argument("--budget", type=int, required=True, help="how many images to choose")
    sg.add_argument("--score", choices=("disagreement", "entropy", "student", "random"), default=None,
                    help="default: disagreement (gta), student (mean_teacher), else entropy")
    sg.add_argument("--spread", action="store_true", help="skip near-duplicates of already chosen images")
    sg.add_argument("--similarity", type=float, default=0.9,
                    help="with --spread: cosine similarity that counts as a near-duplicate (default 0.9)")
    sg.add_argument("--seed", type=int, default=0, help="seed of --score random (default 0)")
    sg.add_argument("--out", help="output folder (default: RUN_DIR/suggest/SCORE_BUDGET)")
    sg.add_argument("--name", default="", help="name of the new split (default: SPLIT+SCOREBUDGET)")
    sg.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier suggest in --out")
    sg.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: cuda when available")
    sg.add_argument("--no-progress", action="store_true", help="no progress bar")

    a = command("aggregate", help="mean ± std table (Markdown) over the eval results of run directories",
                       description="Group run directories NAME_seedN by NAME and print mean ± std of their mIoU "
                                   "(from RUN_DIR/eval/SPLIT_MODEL.json written by gtaseg eval).")
    a.add_argument("runs", nargs="+", help="run directories")
    a.add_argument("--split", default="test", help="evaluation split (default: test)")
    a.add_argument("--model", default="teacher", help="teacher | student | assistant (default: teacher)")
    a.add_argument("--out", help="also write the table to this file")

    d = command("data", help="make split lists for a folder dataset, or check a dataset before training")
    dsub = d.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    ds = dsub.add_parser("split", help="write splits/NAME/labeled.txt and unlabeled.txt (and splits/val.txt)")
    ds.add_argument("root", help="a folder dataset: ROOT/images/ID.jpg|png and ROOT/masks/ID.png")
    ds.add_argument("--labeled", required=True, help="labeled images: a fraction (1/8, 0.125) or a count (46)")
    ds.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    ds.add_argument("--name", default="", help="split name (default: LABELED_seedSEED, e.g. 1_8_seed0)")
    ds.add_argument("--val", default="0", help="also hold out a validation list: fraction or count (default none)")
    ds.add_argument("--stratify", action="store_true", help="make every class appear in the labeled set")
    dp = dsub.add_parser("prepare", help="download (camvid, voc) or check (cityscapes) a public dataset into ROOT")
    dp.add_argument("dataset", choices=("camvid", "voc", "cityscapes"))
    dp.add_argument("root", help="folder to lay the dataset out in (downloads are kept in ROOT/downloads)")
    dp.add_argument("--quiet", action="store_true", help="no progress bar")
    dc = dsub.add_parser("check", help="read every labeled and evaluation mask and report problems")
    dc.add_argument("config", nargs="?", default="demo", help="built-in config name or YAML path (default: demo)")
    dc.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. data.dataset=folder data.root=DIR")

    c = command("configs", help="list the built-in configs, or print one resolved with overrides")
    c.add_argument("name", nargs="?", help="a built-in config or YAML file: print it resolved (every key)")
    c.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides applied before printing")
    return p




def _model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, choices=ROLES,
                   help="which network of the checkpoint (default teacher; sup_only checkpoints: student; "
                        "also model=NAME)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: cuda when available")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # INPUTs and KEY=VALUE may also come after the options (INPUT --out DIR KEY=VALUE)
        if args.command == "predict" and not any(e.startswith("-") for e in extra):
            args.inputs += extra
        elif hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides += extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 0
    try:
        normalise_args(args)
        commands = {"train": cmd_train, "eval": cmd_eval, "predict": cmd_predict, "compare": cmd_compare,
                    "report": cmd_report, "export": cmd_export, "aggregate": cmd_aggregate, "configs": cmd_configs,
                    "data": cmd_data, "suggest": cmd_suggest}
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    except Exception as e:  # one readable line unless --debug
        if args.debug or not isinstance(e, (ValueError, FileNotFoundError, RuntimeError, KeyError, OSError)):
            raise
        close_progress_bars()  # so the error starts a line of its own
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2


def close_progress_bars() -> None:
    """Finish any progress bar still drawn (a failed run leaves its bar's line open)."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", [])):
        bar.close()


def one_line(e: BaseException) -> str:
    """The message of an error, also when it was raised in a DataLoader worker (whose wrapper adds a traceback)."""
    text = str(e).strip()
    if "Original Traceback" in text:
        text = text.splitlines()[-1]
        text = text.split(": ", 1)[1] if ": " in text else text
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())


def normalise_args(args: argparse.Namespace) -> None:
    """One way to say each thing: `model=NAME` is `--model NAME` in every command that loads a
    checkpoint, a run folder stands for its checkpoints/latest.pt, and `gtaseg train KEY=VALUE ...`
    trains the demo config."""
    from gtaseg import checkpoint

    if args.command == "train" and args.config and "=" in args.config and not Path(args.config).exists():
        args.overrides, args.config = [args.config, *args.overrides], "demo"
    for attr in ("overrides", "inputs"):
        items = getattr(args, attr, None)
        if items is None or not hasattr(args, "model"):
            continue
        named = [i.split("=", 1)[1] for i in items if i.startswith(("model=", "eval.model="))]
        if named:
            if named[-1] not in ROLES:
                raise ValueError(f"model={named[-1]!r} is not valid; choose one of {', '.join(ROLES)}")
            if args.model not in (None, named[-1]):
                raise ValueError(f"--model {args.model} and model={named[-1]} disagree; give one of them")
            args.model = named[-1]
            setattr(args, attr, [i for i in items if not i.startswith(("model=", "eval.model="))])
    if hasattr(args, "model") and args.command != "aggregate":
        args.model = args.model or "teacher"
    if hasattr(args, "checkpoint"):
        args.checkpoint = str(checkpoint.resolve(args.checkpoint))
    if hasattr(args, "checkpoints"):
        args.checkpoints = [str(checkpoint.resolve(c)) for c in args.checkpoints]
    if args.command == "report":
        p = Path(args.run_dir)
        if p.is_file() and p.parent.name == "checkpoints":
            args.run_dir = str(p.parent.parent)


def cmd_train(args: argparse.Namespace) -> int:
    from gtaseg.config import load_config
    from gtaseg.engine import train

    cfg = load_config(args.config, args.overrides)
    try:
        train(cfg)
    except KeyboardInterrupt:
        from gtaseg.runs import kept

        print(f"interrupted; {kept(Path(cfg.train.out_dir) / 'checkpoints' / 'latest.pt')}", file=sys.stderr)
        return 130
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from gtaseg import checkpoint, distributed
    from gtaseg.config import apply_overrides, from_dict
    from gtaseg.data import build_datasets
    from gtaseg.data.loaders import eval_loader
    from gtaseg.evalfile import write_eval
    from gtaseg.evaluation import evaluate
    from gtaseg.inference import load_trained

    state = checkpoint.load(args.checkpoint)
    cfg = apply_overrides(from_dict(state["config"]), [*args.overrides, f"eval.model={args.model}"])
    info = distributed.init(cfg.train.device)
    data = build_datasets(cfg.data)
    model = load_trained(state, cfg, cfg.eval.model, args.checkpoint).to(info.device)
    metrics = evaluate(model, eval_loader(data.eval, cfg, info), data.num_classes, cfg, info.device)
    distributed.cleanup(info)
    if not info.is_main:
        return 0
    width = max(len(n) for n in data.class_names)
    print(f"checkpoint {args.checkpoint} (iteration {state['step']}), model {cfg.eval.model}, "
          f"split {cfg.data.eval_split} ({len(data.eval)} images), "
          f"mode {cfg.eval.mode}{' + flip' if cfg.eval.flip else ''}")
    for name, iou in zip(data.class_names, metrics["iou"]):
        print(f"  {name:<{width}}  {'   n/a' if iou != iou else f'{iou:6.2f}'}")
    print(f"pixel accuracy: {metrics['pixel_acc']:.2f}")
    print(f"mean accuracy: {metrics['mean_acc']:.2f}")
    write_eval(Path(args.checkpoint), cfg, state["step"], data.class_names, metrics)
    print(f"mIoU: {metrics['miou']:.2f}")
    return 0


def cmd_aggregate(args: argparse.Namespace) -> int:
    from gtaseg.aggregate import aggregate

    table = aggregate(args.runs, args.split, args.model)
    if args.out:
        Path(args.out).write_text(table)
    print(table, end="")
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    if args.data_command == "prepare":
        from gtaseg.data.prepare import prepare

        print(prepare(args.dataset, args.root, progress=not args.quiet))
        return 0
    if args.data_command == "split":
        from gtaseg.data.tools import split_folder

        lists = split_folder(args.root, args.labeled, args.seed, args.name, args.val, args.stratify)
        name = lists["name"][0]
        print(f"wrote {args.root}/splits/{name}: {len(lists['labeled'])} labeled, {len(lists['unlabeled'])} "
              f"unlabeled" + (f", and splits/val.txt: {len(lists['val'])}" if lists["val"] else "") +
              f"; train with data.dataset=folder data.root={args.root} data.split={name}")
        return 0
    from gtaseg.config import load_config
    from gtaseg.data import build_datasets
    from gtaseg.data.tools import check_data, format_report

    cfg = load_config(args.config, args.overrides)
    data = build_datasets(cfg.data)
    report = check_data(cfg.data, data)
    print(format_report(report, data))
    return 1 if report.errors else 0


def cmd_configs(args: argparse.Namespace) -> int:
    import yaml

    from gtaseg.config import builtin_configs, load_config, to_dict

    if args.name:  # every key, as training would use it (what config.yaml of a run records)
        print(yaml.safe_dump(to_dict(load_config(args.name, args.overrides)), sort_keys=False), end="")
    else:
        print("\n".join(builtin_configs()))
    return 0


def _split_overrides(items: list[str]) -> tuple[list[str], list[str]]:
    """Existing paths are inputs; SECTION.KEY=VALUE words are config overrides."""
    import re

    inputs, overrides = [], []
    for item in items:
        if not Path(item).exists() and re.match(r"^[a-z_]+\.[a-z_]+=", item):
            overrides.append(item)
        else:
            inputs.append(item)
    return inputs, overrides


def cmd_predict(args: argparse.Namespace) -> int:
    from gtaseg.api import load_model
    from gtaseg.predict import expand_inputs, predict_files

    inputs, overrides = _split_overrides(args.inputs)
    if not inputs:
        raise ValueError("no INPUT given; pass image files, folders or .txt lists before or after the overrides")
    inputs = expand_inputs(inputs)  # missing files fail before the model is loaded
    if args.batch_size < 1:
        raise ValueError(f"--batch-size {args.batch_size} must be >= 1")
    if not 0 <= args.alpha <= 1:
        raise ValueError(f"--alpha {args.alpha} must be in [0, 1] (weight of the mask colours in the overlay)")
    model = load_model(args.checkpoint, args.model, args.device, overrides)
    e = model.eval_cfg
    mode = f"sliding {e.window}/{e.stride}" if e.mode == "sliding" else "whole image"
    print(f"{model.name} of {args.checkpoint} (iteration {model.step}), {mode}{' + flip' if e.flip else ''}, "
          f"device {model.device}", file=sys.stderr)
    masks = predict_files(model, inputs, args.out, args.batch_size, args.alpha, progress=not args.quiet)
    print(f"wrote {len(masks)} masks (NAME.png) and overlays (NAME_overlay.jpg) to {args.out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from gtaseg.api import load_model
    from gtaseg.data.datasets import read_image, read_mask
    from gtaseg.data.transforms import IGNORE
    from gtaseg.predict import expand_inputs
    from gtaseg.visualize import comparison_grid

    images_paths = expand_inputs(args.images)
    labels = args.labels or _default_labels(args.checkpoints)
    if len(labels) != len(args.checkpoints):
        raise ValueError(f"--labels gives {len(labels)} names for {len(args.checkpoints)} checkpoints; "
                         "give one per checkpoint")
    mask_paths = expand_inputs(args.masks) if args.masks else None
    if mask_paths is not None and len(mask_paths) != len(images_paths):
        raise ValueError(f"--masks gives {len(mask_paths)} masks for {len(images_paths)} images; give one per image, "
                         "in the same order")
    images = [read_image(str(p)) for p in images_paths]
    truths = None
    if mask_paths is not None:  # checked before any network runs
        truths = []
        for img, mp in zip(images, mask_paths):
            m = read_mask(str(mp)).astype(np.int64)
            if m.shape != img.shape[:2]:
                raise ValueError(f"mask {mp} is {m.shape[1]}x{m.shape[0]} but its image is "
                                 f"{img.shape[1]}x{img.shape[0]}; give --masks in the order of --images")
            truths.append(m)
    preds, first = [], None
    for ck in args.checkpoints:
        model = load_model(ck, args.model, args.device)
        if first is None:
            first = model
        elif model.num_classes != first.num_classes:
            raise ValueError(f"{ck} predicts {model.num_classes} classes but {args.checkpoints[0]} predicts "
                             f"{first.num_classes}; compare checkpoints of the same dataset")
        preds.append(model.predict_batch(images))
    for m, mp in zip(truths or [], mask_paths or []):
        bad = np.unique(m[(m >= first.num_classes) & (m != IGNORE)])
        if bad.size:
            raise ValueError(f"mask {mp} holds values {bad[:10].tolist()} that are neither class indices "
                             f"0..{first.num_classes - 1} nor {IGNORE} (ignore); give class-index masks")
    grid = comparison_grid([Image.fromarray(i) for i in images], preds, labels, first.class_names, first.palette,
                           truths, tile_height=args.tile_height)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    grid.save(args.out)
    print(f"wrote {args.out} ({len(images)} images x {len(labels)} models, {grid.size[0]}x{grid.size[1]} px)")
    return 0


def _default_labels(checkpoints: list[str]) -> list[str]:
    """runs/gta/checkpoints/best.pt -> 'gta/best'; the file name alone when run names are missing."""
    labels = []
    for ck in checkpoints:
        p = Path(ck)
        labels.append(f"{p.parent.parent.name}/{p.stem}" if p.parent.name == "checkpoints" else p.stem)
    return labels


def cmd_suggest(args: argparse.Namespace) -> int:
    from gtaseg.suggest import suggest_to_folder

    written = suggest_to_folder(args.checkpoint, args.budget, args.score, args.spread, args.similarity, args.seed,
                                args.out, args.name, args.overwrite, args.overrides, args.device,
                                progress=not args.no_progress)
    print(written.summary())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from gtaseg.report import build_report

    out = build_report(args.run_dir, args.out, args.examples, args.device, args.compare)
    print(f"wrote {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from gtaseg.export import export

    path, diff = export(args.checkpoint, args.format, args.out, args.model, args.height, args.width, args.opset,
                        args.dynamo)
    checked = f"max |difference| to PyTorch {diff:.2e}"
    check = "not checked (pip install onnxruntime to check)" if diff != diff else checked
    print(f"wrote {path} ({args.format}; input float32 [B,3,H,W] in [0,1], output logits [B,K,H,W]); {check}")
    return 0
