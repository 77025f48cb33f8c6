"""Whether and where a run is tracked: what ``--tracking``, ``--tracking-uri`` and ``--experiment`` say.

Pure: the CLI reads the environment (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_NAME) into these
options at entry; nothing below reads it again.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.errors import MmarRunnerError

KINDS = ("mlflow", "none")


@dataclass(frozen=True)
class TrackingOptions:
    """``kind`` None: not tracked. A parent run id makes this run a child (``mmar verify``'s two runs)."""

    kind: str | None = None
    uri: str | None = None
    experiment: str | None = None
    parent_run_id: str | None = None

    @property
    def enabled(self) -> bool:
        return self.kind == "mlflow"


def tracking_options(kind: str | None, uri: str | None, experiment: str | None, parent_run_id: str | None = None) -> TrackingOptions:
    """The options from the command line: ``--tracking mlflow``, or a tracking URI alone, turns tracking on.

    ``--tracking none`` turns it off even where MLFLOW_TRACKING_URI is set for every run.
    """
    if kind is not None and kind not in KINDS:
        raise MmarRunnerError(f"--tracking {kind}: not a tracking kind", hint=f"one of: {', '.join(KINDS)}")
    if kind == "none" or (kind is None and not uri):
        return TrackingOptions()
    if not uri:
        raise MmarRunnerError("--tracking mlflow needs a tracking server",
                              hint="--tracking-uri http://HOST:5000, or set MLFLOW_TRACKING_URI")
    return TrackingOptions("mlflow", uri, experiment, parent_run_id)


def option_words(options: TrackingOptions) -> list[str]:
    """The same options on another command line (torchrun's workers, verify's runs, a pod's args)."""
    if not options.enabled:
        return []
    words = ["--tracking", "mlflow"]
    words += ["--tracking-uri", options.uri] if options.uri else []
    words += ["--experiment", options.experiment] if options.experiment else []
    return words + (["--tracking-parent", options.parent_run_id] if options.parent_run_id else [])
