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


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]  # fmt: skip


def test_a_pipe_gets_the_whole_confusion_matrix_one_row_a_class(capsys, monkeypatch) -> None:
    """In a pipe rich took 80 columns, and Fashion-MNIST's matrix of 3-digit counts wrapped
    "0 T-shirt/top" and "9 Ankle boot" over two rows each."""
    monkeypatch.delenv("COLUMNS", raising=False)  # a pipe has no width of its own
    confusion = [[850 if i == j else 100 + i + j for j in range(10)] for i in range(10)]
    print_report({
        **report("fmnist"), "classes": FASHION, "per_class_accuracy": [0.85] * 10,
        "confusion": confusion,
    })  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("│")]
    assert len(rows) == 10  # no continuation rows
    for i, (name, row) in enumerate(zip(FASHION, rows, strict=True)):
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells == [f"{i} {name}", "85.0%", *map(str, confusion[i])]
    assert len({len(line) for line in lines[2:]}) == 1  # every line of the table as wide
    # Its title on its own line, unpadded: rich centred it in the table's width with spaces.
    assert lines[1] == "confusion matrix (rows: true class, columns: predicted)"


def test_a_small_matrix_keeps_its_title_on_one_line(capsys, monkeypatch) -> None:
    """A two-class table was narrower than its title, which rich wrapped over three lines."""
    monkeypatch.delenv("COLUMNS", raising=False)
    print_report(report("folder:pets"))
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "confusion matrix (rows: true class, columns: predicted)"  # no padding
    assert lines[2].startswith("┏")
