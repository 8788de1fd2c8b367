"""`cnntui eval`'s text report in a pipe: the headline is one line a script can grep."""

from __future__ import annotations

from cnntui.eval_command import print_report


def report(dataset: str) -> dict:
    return {
        "model": "lenet", "dataset": dataset, "step": 32, "test_loss": 2.3304,
        "test_accuracy": 0.0977, "classes": ["a", "b"], "per_class_accuracy": [0.1, 0.2],
        "confusion": [[1, 2], [3, 4]],
    }  # fmt: skip


def test_a_long_data_set_name_keeps_the_headline_on_one_line(capsys) -> None:
    dataset = "folder:/data/some/long/path/[set-2]/images-for-a-classification-task"
    print_report(report(dataset))
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"lenet on {dataset} (step 32): test accuracy 9.77%, loss 2.3304"
