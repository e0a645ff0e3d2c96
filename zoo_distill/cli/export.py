"""``zoo-distill export``: a run's student as ONNX (and an int8 copy), checked against torch."""

from pathlib import Path
from typing import Optional

import typer

from zoo_distill.cli._common import cli_errors, literal, print_json, say, stdout

__all__ = ["export"]


@cli_errors
def export(
    run_dir: Path = typer.Argument(..., help="A run directory (student.safetensors + config.json)."),
    format: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the exported files (default: RUN/onnx)."),
    data: Optional[Path] = typer.Option(
        None,
        "--data",
        help="Target folder (its test/ split) to check the export on; default: the run's own test split (run.json).",
    ),
    int8: bool = typer.Option(
        False,
        "--int8",
        help="Also write an int8 copy (static quantisation calibrated on the "
        "run's labeled images) and report its accuracy and CPU latency.",
    ),
    latency_runs: int = typer.Option(50, "--latency-runs", help="Batch-1 calls timed for the CPU latency (median)."),
    threads: int = typer.Option(1, "--threads", help="CPU threads onnxruntime may use when timing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report (export.json) as JSON."),
) -> None:
    """Export a trained student to ONNX with its preprocessing, and check it with onnxruntime.

    Writes student.onnx (dynamic batch axis), preprocessing.json and export.json (max |logit
    difference| and top-1 agreement with torch on the test images; with --int8, the quantised
    copy's accuracy and the CPU latency of both). `eval` and `predict` accept the .onnx file.
    Needs the export extra: pip install 'zoo-distill[export]'.
    """
    from rich.table import Table

    import zoo_distill.api as api

    report = api.export(run_dir, format, out=out, data=data, int8=int8, latency_runs=latency_runs, threads=threads)
    if as_json:
        print_json(report)
        return
    table = Table(title=literal(f"{report['onnx']['file']}: checked on {report['test_images']} test images"))
    for name in ("model", "file MB", "max |Δlogit| vs torch", "top-1 agreement", "test accuracy", "CPU ms (batch 1)"):
        table.add_column(name, justify="left" if name == "model" else "right")

    def accuracy(value):
        return "n/a" if value is None else f"{value:.4f}"

    onnx = report["onnx"]
    table.add_row(
        "fp32",
        f"{onnx['bytes'] / 1e6:.2f}",
        f"{onnx['max_abs_logit_diff']:.2e}",
        f"{onnx['top1_agreement']:.4f}",
        accuracy(onnx["test_accuracy"]),
        f"{onnx['cpu_latency_ms']:.2f}",
    )
    if "int8" in report:
        q = report["int8"]
        table.add_row(
            "int8",
            f"{q['bytes'] / 1e6:.2f}",
            "",
            f"{q['top1_agreement']:.4f}",
            accuracy(q["test_accuracy"]),
            f"{q['cpu_latency_ms']:.2f}",
        )
    stdout.print(table)
    say(
        stdout,
        f"torch test accuracy {accuracy(onnx['torch_test_accuracy'])}; latency: median of "
        f"{report['latency']['runs']} calls, {report['latency']['threads']} thread(s)",
    )
