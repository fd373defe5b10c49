"""Command line: gtaseg train | eval."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gtaseg import __version__

EPILOG_TRAIN = """examples:
  gtaseg train                                   # the built-in demo (synthetic data, CPU-sized)
  gtaseg train demo method.name=sup_only train.iters=200 train.out_dir=runs/try1
  gtaseg train camvid_cpu data.split=1_8 train.seed=1
  gtaseg train my_config.yaml model.backbone=resnet50
  torchrun --nproc_per_node=4 -m gtaseg train voc_classic data.split=183

Overrides are SECTION.KEY=VALUE with SECTION in data, model, method, train, eval.
Re-running with the same train.out_dir resumes from its checkpoints/latest.pt."""

EPILOG_EVAL = """examples:
  gtaseg eval runs/demo/checkpoints/best.pt
  gtaseg eval runs/camvid/checkpoints/latest.pt data.eval_split=test
  gtaseg eval CKPT eval.mode=sliding eval.window=512 eval.stride=341 eval.flip=true model=student

The last line printed is 'mIoU: NN.NN'. Results are also written to RUN_DIR/eval/SPLIT_MODEL.json."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gtaseg", description="Semi-supervised semantic segmentation with the Gentle "
                                "Teaching Assistant (GTA-Seg), Mean Teacher and SupOnly.")
    p.add_argument("--version", action="version", version=f"gtaseg {__version__}")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (default config: demo)", epilog=EPILOG_TRAIN,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Train with a built-in config name or a YAML file, plus KEY=VALUE overrides.")
    t.add_argument("config", nargs="?", default="demo", help="built-in config name or YAML path (default: demo)")
    t.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.iters=200")
    t.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    e = sub.add_parser("eval", help="evaluate a checkpoint (per-class IoU, pixel accuracy, mIoU)", epilog=EPILOG_EVAL,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Evaluate a checkpoint on the validation (or data.eval_split=test) set.")
    e.add_argument("checkpoint", help="path to a checkpoint (.pt) written by gtaseg train")
    e.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides (eval.*, data.eval_split, data.root, ...); model=teacher|student|assistant")
    e.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    c = sub.add_parser("configs", help="list the built-in configs")
    c.add_argument("name", nargs="?", help="print this built-in config")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "eval":
            return cmd_eval(args)
        return cmd_configs(args)
    except KeyboardInterrupt:
        print("interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    except Exception as e:  # one readable line unless --debug
        if args.debug or not isinstance(e, (ValueError, FileNotFoundError, RuntimeError, KeyError, OSError)):
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2


def cmd_train(args: argparse.Namespace) -> int:
    from gtaseg.config import load_config
    from gtaseg.engine import train

    cfg = load_config(args.config, args.overrides)
    train(cfg)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from gtaseg import checkpoint, distributed
    from gtaseg.config import apply_overrides, from_dict
    from gtaseg.data import build_datasets
    from gtaseg.engine import eval_loader, evaluate
    from gtaseg.inference import load_trained

    overrides = [f"eval.{o}" if o.startswith("model=") else o for o in args.overrides]
    state = checkpoint.load(args.checkpoint)
    cfg = apply_overrides(from_dict(state["config"]), overrides)
    info = distributed.init(cfg.train.device)
    data = build_datasets(cfg.data)
    model = load_trained(state, cfg, cfg.eval.model, args.checkpoint).to(info.device)
    metrics = evaluate(model, eval_loader(data.eval, cfg, info), data.num_classes, cfg, info.device)
    distributed.cleanup()
    if not info.is_main:
        return 0
    width = max(len(n) for n in data.class_names)
    print(f"checkpoint {args.checkpoint} (iteration {state['step']}), model {cfg.eval.model}, "
          f"split {cfg.data.eval_split} ({len(data.eval)} images), mode {cfg.eval.mode}{' + flip' if cfg.eval.flip else ''}")
    for name, iou in zip(data.class_names, metrics["iou"]):
        print(f"  {name:<{width}}  {'   n/a' if iou != iou else f'{iou:6.2f}'}")
    print(f"pixel accuracy: {metrics['pixel_acc']:.2f}")
    print(f"mean accuracy: {metrics['mean_acc']:.2f}")
    ckpt = Path(args.checkpoint)
    if ckpt.parent.name == "checkpoints":
        out = ckpt.parent.parent / "eval" / f"{cfg.data.eval_split}_{cfg.eval.model}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps({"checkpoint": str(ckpt), "step": state["step"], "model": cfg.eval.model,
                                   "split": cfg.data.eval_split, "mode": cfg.eval.mode, "flip": cfg.eval.flip,
                                   "class_names": data.class_names, **metrics}, indent=1))
    print(f"mIoU: {metrics['miou']:.2f}")
    return 0


def cmd_configs(args: argparse.Namespace) -> int:
    from importlib import resources

    from gtaseg.config import builtin_configs

    if args.name:
        print((resources.files("gtaseg.configs") / f"{args.name}.yaml").read_text())
    else:
        print("\n".join(builtin_configs()))
    return 0
