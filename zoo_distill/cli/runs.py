"""``zoo-distill eval``, ``predict`` and ``push``: use a finished run directory."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import cli_errors, literal, print_json, say, stdout

__all__ = ["evaluate", "predict", "push"]


@cli_errors
def evaluate(
    run_dir: Path = typer.Argument(
        ..., help="A run directory (student.safetensors + config.json), or the student.onnx that `export` wrote."
    ),
    data: Path = typer.Option(
        ..., "--data", help="Target folder (its test/ split is used) or a folder of class folders."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Evaluate a trained student on labeled images: accuracy and per-class accuracy."""
    from rich.table import Table

    import zoo_distill.api as api

    report = api.evaluate(run_dir, data)
    if as_json:
        print_json(report)
        return
    table = Table(title=literal(f"{run_dir}: accuracy {report['test_accuracy']:.4f} on {report['images']} images"))
    table.add_column("class")
    table.add_column("accuracy", justify="right")
    for name, acc in report["per_class_accuracy"].items():
        table.add_row(literal(name), f"{acc:.3f}")
    stdout.print(table)


@cli_errors
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory, or the student.onnx that `export` wrote."),
    images: list[Path] = typer.Argument(..., help="Image files to classify."),
    top: int = typer.Option(1, "--top", min=1, help="Show the top-N classes."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Classify images with a trained student."""
    from rich.table import Table

    import zoo_distill.api as api

    rows = api.predict(run_dir, images, top)
    if as_json:
        print_json(rows)
        return
    table = Table(title=literal(f"predictions of {run_dir}"))
    table.add_column("image")
    table.add_column("class")
    table.add_column("probability", justify="right")
    for row in rows:
        for i, (name, p) in enumerate(row["top"]):
            table.add_row(literal(row["image"] if i == 0 else ""), literal(name), f"{p:.3f}")
    stdout.print(table)


@cli_errors
def push(
    run_dir: Path = typer.Argument(..., help="A run directory (student.safetensors + config.json [+ metrics.json])."),
    repo_id: str = typer.Argument(..., help="Hub repo to upload to, e.g. my-org/my-student (created if missing)."),
    revision: str = typer.Option("main", "--revision", help="Branch to commit to (created if missing)."),
    private: bool = typer.Option(
        False, "--private", help="Create the repo as private (an existing repo keeps its visibility)."
    ),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
) -> None:
    """Upload a trained student as a timm-format Hub repo: config.json, model.safetensors and a model card.

    Loads back with timm.create_model("hf-hub:REPO_ID", pretrained=True) or as an hf-hub zoo entry.
    Authentication, endpoint and offline mode are huggingface_hub's (HF_TOKEN / `hf auth login`, HF_ENDPOINT)."""
    from zoo_distill.runs.push import push as push_run

    result = push_run(run_dir, repo_id, revision=revision, private=private, message=message)
    say(stdout, f"pushed {', '.join(result.files)} to {result.repo_id}@{result.revision}: {result.commit_url}")
    say(stdout, f'load with: timm.create_model("hf-hub:{result.repo_id}", pretrained=True)')
