"""Meant as the MMAR's own logging helpers; named like the standard library's logging, so it would replace it."""

def log_metrics(metrics: dict) -> None:
    print(metrics)
