import pytest

from gtaseg.config import ConfigError, builtin_configs, dump, from_dict, load_config, to_dict


def test_demo_loads_and_overrides_apply():
    cfg = load_config("demo", ["train.iters=7", "train.out_dir=runs/x", "method.name=sup_only",
                               "model.backbone=resnet50", "data.scale_range=[0.5, 1.5]",
                               "train.eval_models=teacher,student"])
    assert cfg.train.iters == 7 and cfg.train.out_dir == "runs/x" and cfg.method.name == "sup_only"
    assert cfg.model.backbone == "resnet50" and cfg.data.scale_range == (0.5, 1.5)
    assert cfg.train.eval_models == ["teacher", "student"]


def test_unknown_key_lists_valid_keys_of_the_section():
    with pytest.raises(ConfigError) as e:
        load_config("demo", ["train.iter=5"])
    assert "'train.iter'" in str(e.value) and "iters" in str(e.value) and "out_dir" in str(e.value)


def test_unknown_section():
    with pytest.raises(ConfigError, match="SECTION one of data, model, method, train, eval"):
        load_config("demo", ["trainer.iters=5"])


def test_bad_type_and_bad_choice():
    with pytest.raises(ConfigError, match="train.iters.*'many' is not a valid int"):
        load_config("demo", ["train.iters=many"])
    with pytest.raises(ConfigError, match="method.name.*'fixmatch'.*sup_only, mean_teacher, gta"):
        load_config("demo", ["method.name=fixmatch"])
    with pytest.raises(ConfigError, match="method.transfer"):
        load_config("demo", ["method.transfer=head"])


def test_yaml_file_with_base_and_bad_file(tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("base: demo\ntrain:\n  iters: 11\n")
    cfg = load_config(str(f))
    assert cfg.train.iters == 11 and cfg.data.dataset == "synthetic"
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  itres: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml.*'train.itres'.*iters"):
        load_config(str(bad))
    with pytest.raises(ConfigError, match="built-in configs: .*demo"):
        load_config("no_such_config")


def test_roundtrip_dump(tmp_path):
    cfg = load_config("demo", ["data.label_map={11: 255}"])
    dump(cfg, tmp_path / "c.yaml")
    again = load_config(str(tmp_path / "c.yaml"))
    assert to_dict(again) == to_dict(cfg) and again.data.label_map == {11: 255}
    assert to_dict(from_dict(to_dict(cfg))) == to_dict(cfg)


@pytest.mark.parametrize("name", builtin_configs())
def test_every_builtin_config_is_valid(name):
    load_config(name)


def test_string_overrides_are_kept_verbatim():
    cfg = load_config("demo", ["data.split=1_8", "train.out_dir=runs/007", "data.root=1e3"])
    assert cfg.data.split == "1_8" and cfg.train.out_dir == "runs/007" and cfg.data.root == "1e3"


def test_folder_named_like_a_builtin_does_not_hide_it(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_config("demo").data.dataset == "synthetic"


@pytest.mark.parametrize("override,message", [
    ("train.log_every=0", "'train.log_every': 0 must be > 0"),
    ("train.save_every=0", "'train.save_every': 0 must be > 0"),
    ("train.eval_models=", "'train.eval_models' is empty"),
    ("train.lr=nan", "'train.lr': nan is not a finite number"),
    ("method.tau=inf", "'method.tau': inf is not a finite number"),
    ("train.epochs=-1", "'train.epochs': -1.0 must be >= 0"),
    ("data.batch_size=0", "'data.batch_size': 0 must be > 0"),
    ("data.unlabeled_batch_size=0", "'data.unlabeled_batch_size': 0 must be > 0"),
    ("eval.crop_size=0", "'eval.crop_size': 0 must be > 0"),
    ("method.cutmix_prob=1.5", "'method.cutmix_prob': 1.5 must be in [0, 1]"),
    ("method.fp_dropout=1", "'method.fp_dropout': 1.0 must be in [0, 1)"),
    ("method.assistant_fp=-0.1", "'method.assistant_fp': -0.1 must be in [0, 1)"),
    ("data.scale_range=[0.5, nan]", "'data.scale_range'"),
])  # fmt: skip
def test_values_that_would_crash_later_fail_at_load_time(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_train_with_overrides_only_uses_the_demo_config(monkeypatch):
    import gtaseg.engine
    from gtaseg.cli import main

    seen = {}
    monkeypatch.setattr(gtaseg.engine, "train", lambda cfg: seen.setdefault("cfg", cfg))
    assert main(["train", "train.iters=7", "method.name=sup_only"]) == 0
    assert seen["cfg"].train.iters == 7 and seen["cfg"].method.name == "sup_only"
    assert seen["cfg"].data.dataset == "synthetic"  # demo


def test_a_user_yaml_on_a_base_gets_its_own_run_folder(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: demo\ntrain:\n  iters: 5\n")
    assert load_config(str(tmp_path / "mine.yaml")).train.out_dir == "runs/mine"
    (tmp_path / "set.yaml").write_text("base: demo\ntrain:\n  out_dir: elsewhere\n")
    assert load_config(str(tmp_path / "set.yaml")).train.out_dir == "elsewhere"
    assert load_config("demo").train.out_dir == "runs/demo"


def test_configs_prints_the_resolved_config(capsys):
    import yaml

    from gtaseg.cli import main

    assert main(["configs", "camvid_cpu_700", "train.lr=0.02"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["train"]["lr"] == 0.02 and printed["train"]["iters"] == 700  # the override and the file
    assert printed["method"]["perturb"] is True and printed["method"]["cutmix_prob"] == 0.5  # and its base's
    assert printed["method"]["transfer_decay"] == 0.99  # keys the file does not set, with their defaults


def test_configs_kept_for_old_figures_differ_from_camvid_cpu_only_where_they_say():
    # camvid_cpu moved the head to 20x the base LR and dropped the paper's re-weighting; the configs
    # of the figures made before keep x10 (camvid_cpu_x10) and, on top of it, re-weighting.
    def differ(a, b):
        return {(sec, k) for sec in a for k in a[sec] if a[sec][k] != b[sec][k]}

    new, x10, laplace = (to_dict(load_config(n)) for n in ("camvid_cpu", "camvid_cpu_x10", "camvid_cpu_laplace"))
    assert new["train"]["head_lr_mult"] == 20 and x10["train"]["head_lr_mult"] == 10
    assert new["method"]["reweight"] == "none" and laplace["method"]["reweight"] == "laplace"
    assert load_config("camvid_cpu_700").method.reweight == "laplace"
    assert load_config("camvid_cpu_700").train.head_lr_mult == 10
    assert differ(new, x10) == {("train", "head_lr_mult"), ("train", "out_dir")}
    assert differ(x10, laplace) == {("method", "reweight"), ("train", "out_dir")}
