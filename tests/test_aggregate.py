import json

import pytest

from gtaseg.aggregate import aggregate
from gtaseg.cli import main


def result(run, miou, iou, split="test", model="teacher"):
    (run / "eval").mkdir(parents=True)
    (run / "eval" / f"{split}_{model}.json").write_text(json.dumps(
        {"miou": miou, "pixel_acc": 90.0, "iou": iou, "class_names": ["a", "b"]}))


def test_mean_and_sample_std_over_seeds(tmp_path, capsys):
    for seed, m in enumerate([60.0, 62.0, 64.0]):
        result(tmp_path / f"gta_seed{seed}", m, [m, m])
    result(tmp_path / "sup_only_seed0", 50.0, [40.0, 60.0], model="student")  # sup_only: the student
    table = aggregate(sorted(tmp_path.iterdir()))
    assert "| gta | 3 | 62.00 ± 2.00 |" in table  # sample std of 60, 62, 64
    assert "| sup_only | 1 | 50.00 |" in table
    assert "| sup_only | 40.0 | 60.0 |" in table
    out = tmp_path / "t.md"
    assert main(["aggregate", *map(str, sorted(tmp_path.glob("*_seed*"))), "--out", str(out)]) == 0
    assert out.read_text() == table


def test_missing_eval_result_says_how_to_make_it(tmp_path):
    (tmp_path / "run_seed0").mkdir()
    with pytest.raises(FileNotFoundError, match="gtaseg eval .*run_seed0/checkpoints/latest.pt data.eval_split=test"):
        aggregate([tmp_path / "run_seed0"])


def test_runs_of_the_same_name_in_other_folders_stay_apart(tmp_path):
    result(tmp_path / "old" / "gta_seed0", 40.0, [40.0, 40.0])
    result(tmp_path / "new" / "gta_seed0", 60.0, [60.0, 60.0])
    table = aggregate([tmp_path / "old" / "gta_seed0", tmp_path / "new" / "gta_seed0"])
    assert "| old/gta | 1 | 40.00 |" in table and "| new/gta | 1 | 60.00 |" in table


def test_a_symlinked_run_joins_the_folder_of_its_link(tmp_path):
    result(tmp_path / "old" / "gta_seed0", 40.0, [40.0, 40.0])
    result(tmp_path / "new" / "gta_seed1", 60.0, [60.0, 60.0])
    (tmp_path / "new" / "gta_seed0").symlink_to(tmp_path / "old" / "gta_seed0")
    table = aggregate([tmp_path / "new" / "gta_seed0", tmp_path / "new" / "gta_seed1"])
    assert "| gta | 2 | 50.00 ± 14.14 |" in table


def test_different_class_counts_and_corrupt_results_are_named(tmp_path):
    result(tmp_path / "a_seed0", 50.0, [50.0, 50.0])
    (tmp_path / "b_seed0" / "eval").mkdir(parents=True)
    (tmp_path / "b_seed0" / "eval" / "test_teacher.json").write_text(json.dumps(
        {"miou": 1.0, "pixel_acc": 1.0, "iou": [1.0, 1.0, 1.0], "class_names": ["a", "b", "c"]}))
    with pytest.raises(ValueError, match=r"b_seed0 has 3 classes .* has 2 .*one dataset at a time"):
        aggregate([tmp_path / "a_seed0", tmp_path / "b_seed0"])
    (tmp_path / "b_seed0" / "eval" / "test_teacher.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"b_seed0/eval/test_teacher.json is not a gtaseg eval result"):
        aggregate([tmp_path / "a_seed0", tmp_path / "b_seed0"])
