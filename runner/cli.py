"""The ``mmar`` command line: parse arguments, set up logging, call the core, map errors to exit codes.

Clara's flags are accepted as they were: ``-m MMAR`` as well as a positional MMAR, and ``--set``
followed by any number of ``K=V`` words (``--set epochs=2 amp=False``, normalised by
:mod:`runner.argv` before parsing); ``--local_rank`` and ``--write_train_stats`` are accepted.
The entry point is :mod:`runner.entry`.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from runner.errors import BAD_INPUT_EXIT, INTERRUPTED_EXIT, MmarRunnerError, first_line
from runner.run_spec import DEFAULT_MASTER_PORT, NodeLayout, RunSpec

logger = logging.getLogger("runner")

app = typer.Typer(
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="Run Clara Train MMARs on MONAI, reproducibly.",
)

MmarArg = Annotated[Optional[Path], typer.Argument(help="MMAR root folder.", show_default=False)]
MmarOpt = Annotated[Optional[Path], typer.Option("-m", "--mmar", help="MMAR root (Clara style).", show_default=False)]
ConfigOpt = Annotated[Optional[str], typer.Option("-c", "--config", help="Config file, relative to the MMAR root. [default: config/config_train.json]", show_default=False)]
EnvOpt = Annotated[Optional[str], typer.Option("-e", "--environment", help="environment.json, relative to the MMAR root. [default: config/environment.json]", show_default=False)]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override variables: --set epochs=2 learning_rate=1e-3", show_default=False)]
VerboseOpt = Annotated[bool, typer.Option("-v", "--verbose", help="Debug logging; show error causes.")]
LockWaitOpt = Annotated[float, typer.Option("--lock-wait", min=0, envvar="MMAR_LOCK_WAIT_S", metavar="SECONDS",
                                            help="Wait this long for an output folder another run holds, then exit 2.")]
FreshOpt = Annotated[bool, typer.Option("--fresh", help="Start from the beginning: remove the output folder's resume checkpoints.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show a progress bar on a terminal.")]
TrackingOpt = Annotated[Optional[str], typer.Option("--tracking", metavar="mlflow|none", envvar="MMAR_TRACKING",
                                                    help="Log the run to MLflow (on when a tracking URI is set; none: off).")]
TrackingUriOpt = Annotated[Optional[str], typer.Option("--tracking-uri", envvar="MLFLOW_TRACKING_URI", metavar="URI",
                                                       help="The MLflow tracking server, e.g. http://mlflow:5000.")]
ExperimentOpt = Annotated[Optional[str], typer.Option("--experiment", envvar="MLFLOW_EXPERIMENT_NAME",
                                                      help="MLflow experiment [default: the MMAR's folder name].")]
TrackingParentOpt = Annotated[Optional[str], typer.Option("--tracking-parent", hidden=True,
                                                          help="Log as a child of this MLflow run (mmar verify's runs).")]
ImageRefOpt = Annotated[Optional[str], typer.Option("--image-ref", envvar="MMAR_IMAGE", hidden=True,
                                                    help="The container image this run executes in (set by the image).")]
# A tracking server that is down must not hold a run for minutes of retries before it says so; the run's
# address is logged by the runner, not printed to stdout by MLflow between the CLI's own lines.
MLFLOW_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                   "MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                   "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}

SHOW_PNG = "run_curves.png"  # mmar show's default PNG, beside the run's manifest
MONAI_STATS_LOGGER = "monai.handlers.StatsHandler"  # StatsHandler's default logger name
# What our epoch line says already, and StatsHandler's echo of the exception that ends a run (the CLI reports it once).
MONAI_REPEATS = re.compile(r"(Epoch\[\d+\] Metrics -- |Key metric: |Exception: )")
DATALOADER_WORKERS_WARNING = "This DataLoader will create"
DATA_CACHE_ENV = "MMAR_DATA_CACHE"
SHOW_TRACEBACK = "; -v shows the traceback"
QUIET_LIBRARIES = ("ignite", "monai", "torch", "PIL", "matplotlib", "h5py", "urllib3", "filelock", "numexpr", "tensorboard")


def _print_version(value: bool) -> None:
    if value:
        from runner.manifest import version_lines

        for line in version_lines():
            typer.echo(line)
        raise typer.Exit(0)


@app.callback()
def _main(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                                help="Print mmar-runner's version and the torch, MONAI and ignite it runs on.")] = False) -> None:
    """Run Clara Train MMARs on MONAI, reproducibly."""


def _setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = _AboveProgressBar(sys.stderr)
    handler.setFormatter(_Formatter())
    handler.addFilter(_drop_engine_exception_echo)
    root.addHandler(handler)
    _route_monai_stats(handler)
    # torch warns once per DataLoader that num_workers exceeds the CPUs; the runner says it once (workflow.common).
    warnings.filterwarnings("ignore", message=DATALOADER_WORKERS_WARNING, category=UserWarning)
    # INFO at the root, so a BYOC module's own ``logging.getLogger(__name__).info(...)`` is seen;
    # the libraries' INFO chatter is not (the runner reports epochs itself).
    root.setLevel(logging.INFO)
    logging.getLogger("runner").setLevel(logging.DEBUG if verbose else logging.INFO)
    for library in QUIET_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)


def _route_monai_stats(handler: logging.Handler) -> None:
    """MONAI's StatsHandler logs to stdout through a handler of its own, unless its logger exists already.

    Made here first, it logs through ours (stderr, our format), less the epoch metrics and key-metric
    lines that the runner's own epoch line already says; its per-iteration lines stay.
    """
    stats = logging.getLogger(MONAI_STATS_LOGGER)
    for existing in list(stats.handlers):
        stats.removeHandler(existing)
    stats.addHandler(handler)  # MONAI turns its propagation off
    stats.propagate = False
    stats.addFilter(_drop_monai_repeats)


def _drop_monai_repeats(record: logging.LogRecord) -> bool:
    return not MONAI_REPEATS.match(record.getMessage())


class _AboveProgressBar(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each line above an open progress bar (tqdm.write), not onto the end of it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm
        except ImportError:  # no progress bar either
            super().emit(record)
            return
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging must not raise; the standard handler reports it
            self.handleError(record)


def _drop_engine_exception_echo(record: logging.LogRecord) -> bool:
    """ignite logs every exception that ends a run before re-raising it; the CLI reports it once itself."""
    return not (record.name.startswith("ignite") and "terminating due to exception" in record.getMessage())


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {text}"
        if record.levelno >= logging.WARNING:
            return f"warning: {text}"
        return text


def _mmar(positional: Path | None, option: Path | None, bundles: bool = False) -> Path:
    chosen = option or positional
    if chosen is None:
        raise MmarRunnerError("no MMAR given", hint="mmar train PATH/TO/MMAR (or -m PATH/TO/MMAR)")
    if not bundles:
        from runner.bundle.cli import refuse_bundle

        refuse_bundle(chosen)
    return chosen


def _root(positional: Path | None, option: Path | None, verbose: bool, bundles: bool = False) -> str:
    """The MMAR (or, where the command takes one, bundle) a run command names, or its error (exit 2) first."""
    return str(_reporting_errors(verbose, lambda: _mmar(positional, option, bundles)))


def _unexpected(exc: Exception, verbose: bool, who: str = "") -> None:
    """A failure we did not anticipate: one line by default, the traceback with -v."""
    if verbose:
        raise exc
    typer.echo(f"error: {who}unexpected failure: {type(exc).__name__}: {first_line(exc)}{SHOW_TRACEBACK}", err=True)
    raise typer.Exit(1)


def _reporting_errors(verbose: bool, work: Callable[[], Any], who: str = "") -> Any:
    """Run a command's work: bad input exits 2 with its message, anything unexpected exits 1 in one line.

    ``who`` prefixes the message (``rank 1: `` under torchrun, so the launcher can tell ranks apart).
    """
    try:
        return work()
    except typer.Exit:
        raise
    except MmarRunnerError as exc:
        _fail(exc, verbose, who)
    except KeyboardInterrupt:  # Ctrl-C outside training's own handling (loading, building): no traceback, the shell's 130
        typer.echo(f"error: {who}interrupted (Ctrl-C)", err=True)
        raise typer.Exit(INTERRUPTED_EXIT) from None
    except Exception as exc:  # noqa: BLE001 - last resort: no traceback without -v
        _unexpected(exc, verbose, who)


def _fail(exc: MmarRunnerError, verbose: bool, who: str = "") -> None:
    """The error's own text; the traceback of what caused it with -v, else a note that -v shows it."""
    if verbose and exc.__cause__ is not None:
        import traceback

        traceback.print_exception(exc.__cause__, file=sys.stderr)
    more = SHOW_TRACEBACK if exc.__cause__ is not None and not verbose else ""
    typer.echo(f"error: {who}{exc.render()}{more}", err=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def check(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
          set_: SetOpt = None, verbose: VerboseOpt = False,
          data: Annotated[bool, typer.Option("--data", help="Also open every datalist file: headers, image/label shapes, "
                                                               "label values (a sample, within 120 s); and run the first "
                                                               "case of each dataset through its pre-transforms once.")] = False) -> None:
    """Validate an MMAR or a MONAI bundle: config schema, variables, components, references, datalist. Builds nothing heavy.

    Checks config_train.json, or any other config given with -c (validation and inference configs too).
    The MMAR is code: checking imports its custom/ modules (their top-level code runs), as Clara did;
    run it only on MMARs you would train (docs/SECURITY.md). A MONAI bundle (configs/) is checked
    statically: none of its $ expressions or scripts/ code runs (docs/BUNDLES.md).
    """
    _setup_logging(verbose)
    from runner.bundle.cli import check_bundle_command, is_bundle
    from runner.components.check import check_mmar
    from runner.config.load import load_config
    from runner.config.report import render_warnings

    def work() -> Any:
        root = _mmar(mmar, m, bundles=True)
        if is_bundle(root, config):
            return check_bundle_command(root, config, environment, set_ or [], data)
        loaded = load_config(root, config, environment, set_ or [], strict=False, kind=None)
        for line in render_warnings(check_mmar(loaded, inspect_data=data)):
            logger.warning("%s", line)
        return loaded

    loaded = _reporting_errors(verbose, work)
    if isinstance(loaded, str):  # a bundle: its one-line summary
        typer.echo(loaded)
        return
    typer.echo(f"ok: {loaded.mmar.root} ({loaded.file}, dialect {loaded.dialect}, seed {loaded.seed})")
    if loaded.search_point:
        typer.echo(f"search point: {loaded.search_point} (an AutoML search space: its first point unless --set picks another)")


@app.command()
def train(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
          set_: SetOpt = None, verbose: VerboseOpt = False, progress: ProgressOpt = True, fresh: FreshOpt = False,
          lock_wait: LockWaitOpt = 0.0,
          max_iterations: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many iterations (short checks).")] = None,
          nproc: Annotated[Optional[int], typer.Option(min=1, help="Processes on this node under torchrun (GPUs: one per device; CPU: gloo).")] = None,
          nnodes: Annotated[int, typer.Option(min=1, help="Nodes in the job (torchrun, static rendezvous).")] = 1,
          node_rank: Annotated[int, typer.Option(min=0, help="This node's index.")] = 0,
          master_addr: Annotated[Optional[str], typer.Option(help="Host of node 0 (several nodes).")] = None,
          master_port: Annotated[int, typer.Option(help="Rendezvous port on node 0.")] = DEFAULT_MASTER_PORT,
          tracking: TrackingOpt = None, tracking_uri: TrackingUriOpt = None, experiment: ExperimentOpt = None,
          tracking_parent: TrackingParentOpt = None, image_ref: ImageRefOpt = None) -> None:
    """Train an MMAR with pinned deterministic settings; writes models, train_stats.json and run_manifest.json.

    A run stopped by SIGTERM (exit 75) continues from its resume checkpoint when started again, as long as
    its inputs (config, custom/, datalists) are unchanged.
    """
    spec = RunSpec("train", _root(mmar, m, verbose, bundles=True), config, environment, tuple(set_ or ()), nproc,
                   NodeLayout(nnodes, node_rank, master_addr, master_port), progress, fresh, lock_wait, max_iterations,
                   _tracking(verbose, tracking, tracking_uri, experiment, tracking_parent), image_ref or None, _data_cache())
    _train(spec, verbose)


@app.command()
def finetune(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
             set_: SetOpt = None, verbose: VerboseOpt = False, progress: ProgressOpt = True, fresh: FreshOpt = False,
             lock_wait: LockWaitOpt = 0.0, tracking: TrackingOpt = None, tracking_uri: TrackingUriOpt = None,
             experiment: ExperimentOpt = None, image_ref: ImageRefOpt = None) -> None:
    """Train starting from the checkpoint at MMAR_CKPT: train with dont_load_ckpt_model=False, as Clara's finetune.sh."""
    _train(RunSpec("finetune", _root(mmar, m, verbose), config, environment, tuple(set_ or ()), progress=progress, fresh=fresh,
                   lock_wait_s=lock_wait, tracking=_tracking(verbose, tracking, tracking_uri, experiment), image=image_ref or None,
                   data_cache=_data_cache()),
           verbose)


def _tracking(verbose: bool, kind: str | None, uri: str | None, experiment: str | None, parent: str | None = None) -> Any:
    """The tracking options from the command line (bad ones: exit 2), with MLflow's retries kept short."""
    from runner.tracking.options import tracking_options

    options = _reporting_errors(verbose, lambda: tracking_options(kind, uri, experiment, parent))
    if options.enabled:
        _mlflow_defaults()
    return options


def _data_cache() -> str:
    """The data digest cache: MMAR_DATA_CACHE (a file path; ``off`` for none), else the user's cache folder."""
    import os

    from runner.data.digest_cache import default_cache_path

    chosen = os.environ.get(DATA_CACHE_ENV, "").strip()
    if chosen.lower() in ("off", "none", "0"):
        return ""
    return chosen or str(default_cache_path(os.environ, Path.home()))


def _mlflow_defaults() -> None:
    import os

    for name, value in MLFLOW_DEFAULTS.items():
        os.environ.setdefault(name, value)


def _print_conf(loaded: Any) -> None:
    """Clara's ``--set print_conf=True``: the config as it will run, variables substituted."""
    if loaded.variables.get("print_conf") is True:
        typer.echo(json.dumps(loaded.resolved, indent=2))


def _train(spec: RunSpec, verbose: bool) -> None:
    _setup_logging(verbose)
    from runner.bundle.cli import is_bundle
    from runner.config.load import load_train_config
    from runner.workflow.distributed import context_from_env, launch, processes_wanted
    from runner.workflow.train import run_training  # pins the process env before torch loads

    context = context_from_env()
    if not context.is_main:
        for name in ("", "runner"):
            logging.getLogger(name).setLevel(logging.WARNING)  # one voice: rank 0 reports

    def work() -> Any:
        if is_bundle(Path(spec.mmar), spec.config):
            from runner.bundle.train import prepare_bundle_run, run_bundle_training

            if not context.distributed and spec.launches_workers:
                if spec.nodes.nnodes > 1 and not spec.nodes.master_addr:
                    raise MmarRunnerError("--nnodes > 1 needs --master-addr (the host of node 0)")
                prepare_bundle_run(spec)  # bad input: one report here, not one per worker
                raise typer.Exit(launch(spec))
            return run_bundle_training(spec)
        loaded = load_train_config(Path(spec.mmar), spec.config, spec.environment, spec.config_sets, strict=False)
        if loaded.errors:  # with every component and datalist problem too, in one report (exit 2)
            from runner.components.check import check_mmar

            check_mmar(loaded)
        if not context.distributed:
            launching = replace(spec, processes=processes_wanted(spec.processes, loaded.model.multi_gpu, loaded.file))
            if launching.nodes.nnodes > 1 and not launching.nodes.master_addr:
                raise MmarRunnerError("--nnodes > 1 needs --master-addr (the host of node 0)")
            if launching.launches_workers:
                from runner.components.check import check_mmar

                check_mmar(loaded)  # bad input: one report here, not one per worker
                raise typer.Exit(launch(launching))
        if context.is_main:
            _print_conf(loaded)
        return run_training(loaded, spec)

    result = _reporting_errors(verbose, work, f"rank {context.rank}: " if context.distributed else "")
    if not context.is_main:
        return
    typer.echo(f"final model:   {result.final_model}")
    typer.echo(f"best model:    {result.best_model or '(none: no key-metric checkpoint was saved)'}")
    typer.echo(f"manifest:      {result.manifest_path}")
    typer.echo(f"weights:       {result.weights_digest}")
    if result.epochs_completed is None:
        typer.echo("epochs:        not recorded (a bring-your-own trainer runs its own loop)")
    else:
        planned = f" of {result.planned_iterations}" if result.planned_iterations else ""
        typer.echo(f"epochs:        {result.epochs_completed}, iterations: {result.iterations}{planned}"
                   + (" (ended early)" if result.terminated_early else ""))
    from runner.show import look_command

    typer.echo(f"look:          {look_command(result.ckpt_dir, result.tensorboard_logdir)}")


def _evaluate(command: str, kind_name: str, mmar: Path | None, m: Path | None, config: str | None, environment: str | None,
              set_: list[str] | None, verbose: bool, lock_wait: float, tracking: Any, image_ref: str | None) -> None:
    _setup_logging(verbose)
    from runner.bundle.cli import is_bundle
    from runner.config import kinds
    from runner.config.load import load_config
    from runner.workflow.evaluate import run_evaluation  # pins the process env before torch loads

    spec = RunSpec(command, _root(mmar, m, verbose, bundles=True), config, environment, tuple(set_ or ()), lock_wait_s=lock_wait,
                   tracking=tracking, image=image_ref or None, data_cache=_data_cache())

    def work() -> Any:
        if is_bundle(Path(spec.mmar), config):
            from runner.bundle.evaluate import run_bundle_evaluation

            return run_bundle_evaluation(spec)
        loaded = load_config(Path(spec.mmar), config, environment, spec.sets, strict=False, kind=getattr(kinds, kind_name))
        _print_conf(loaded)
        return run_evaluation(loaded, spec)  # checks first: every problem at once

    result = _reporting_errors(verbose, work)
    for name, value in result.metrics.items():
        typer.echo(f"{name + ':':<15}{value:.6f}")
    typer.echo(f"cases:         {result.cases}")
    typer.echo(f"model weights: {result.model_digest}")
    typer.echo(f"outputs:       {len(result.written)} files in {result.output_dir}")
    typer.echo(f"manifest:      {result.manifest_path}")


@app.command()
def validate(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
             set_: SetOpt = None, verbose: VerboseOpt = False, lock_wait: LockWaitOpt = 0.0,
             tracking: TrackingOpt = None, tracking_uri: TrackingUriOpt = None, experiment: ExperimentOpt = None,
             image_ref: ImageRefOpt = None) -> None:
    """Score a trained model on labelled data with config/config_validation.json; writes to MMAR_EVAL_OUTPUT_PATH."""
    _evaluate("validate", "VALIDATION", mmar, m, config, environment, set_, verbose, lock_wait,
              _tracking(verbose, tracking, tracking_uri, experiment), image_ref)


@app.command()
def infer(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
          set_: SetOpt = None, verbose: VerboseOpt = False, lock_wait: LockWaitOpt = 0.0,
          tracking: TrackingOpt = None, tracking_uri: TrackingUriOpt = None, experiment: ExperimentOpt = None,
          image_ref: ImageRefOpt = None) -> None:
    """Predict with config/config_inference.json; predictions are saved under MMAR_EVAL_OUTPUT_PATH."""
    _evaluate("infer", "INFERENCE", mmar, m, config, environment, set_, verbose, lock_wait,
              _tracking(verbose, tracking, tracking_uri, experiment), image_ref)


@app.command()
def export(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
           set_: SetOpt = None, verbose: VerboseOpt = False,
           model_path: Annotated[Optional[str], typer.Option("--model_path", "--model-path", help="Checkpoint [default: MMAR_CKPT].")] = None,
           output_path: Annotated[Optional[str], typer.Option("--output_path", "--output-path", help="TorchScript file [default: MMAR_TORCHSCRIPT].")] = None,
           input_shape: Annotated[Optional[str], typer.Option("--input_shape", "--input-shape", help="Sample input for the check, e.g. '[1, 1, 96, 96, 96]'.")] = None,
           ignore_verify: Annotated[bool, typer.Option("--ignore_verify", "--ignore-verify", help="Skip loading the file back and comparing outputs.")] = False) -> None:
    """Export a checkpoint to TorchScript (MMAR_TORCHSCRIPT) and prove it: load back, compare outputs."""
    _setup_logging(verbose)
    from runner.config.load import load_train_config
    from runner.workflow.export import export_torchscript

    def work() -> Any:
        shape = _parse_shape(input_shape) if input_shape else None
        loaded = load_train_config(_mmar(mmar, m), config, environment, set_ or [])
        return export_torchscript(loaded, model_path, output_path, shape, verify=not ignore_verify)

    result = _reporting_errors(verbose, work)
    typer.echo(f"torchscript:   {result.path} (torch.jit.{result.method})")
    typer.echo(f"weights:       {result.weights_digest}")
    if not ignore_verify:
        same = "bit-identical" if result.bit_identical else f"max |diff| {result.max_abs_difference:.3g}"
        typer.echo(f"verified:      outputs on a {result.input_shape} sample input are {same}")


def _parse_shape(text: str) -> list[int]:
    try:
        shape = json.loads(text)
        if isinstance(shape, list) and shape and all(isinstance(v, int) and v > 0 for v in shape):
            return shape
    except json.JSONDecodeError:
        pass
    raise MmarRunnerError(f"--input_shape: expected a list of positive integers like [1, 1, 96, 96, 96], got {text!r}")


@app.command()
def migrate(mmar: MmarArg = None, m: MmarOpt = None,
            out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Where the copy goes [default: MMAR-migrated].")] = None,
            force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
            verbose: VerboseOpt = False) -> None:
    """Write a copy of an MMAR whose configs and custom/ imports use today's MONAI names (no legacy alias left)."""
    _setup_logging(verbose)
    from runner.legacy.migrate import migrate_mmar

    result = _reporting_errors(verbose, lambda: migrate_mmar(_mmar(mmar, m), out, force))
    for file, uses in result.changes.items():
        typer.echo(f"{file}: {len(uses)} change{'s' if len(uses) != 1 else ''}")
        for use in uses:
            typer.echo(f"  {use.path}: {use.old} -> {use.new}")
    for file, changes in result.code_changes.items():
        typer.echo(f"{file}: {len(changes)} import{'s' if len(changes) != 1 else ''} rewritten")
        for change in changes:
            typer.echo(f"  line {change.line}: {change.old} -> {change.new}")
    typer.echo(f"migrated copy: {result.target}")


@app.command()
def convert(mmar: MmarArg = None, m: MmarOpt = None,
            out: Annotated[Optional[Path], typer.Option("-o", "--out", help="Folder the MONAI bundle is written to.")] = None,
            config: ConfigOpt = None, environment: EnvOpt = None, set_: SetOpt = None,
            force: Annotated[bool, typer.Option(help="Replace --out if it exists.")] = False,
            verbose: VerboseOpt = False) -> None:
    """Write a MONAI bundle (configs/train.json, metadata.json, scripts/) that trains what `mmar train MMAR` trains, to the same weights.

    Variables (environment.json, --set) are resolved as `mmar train` resolves them. What a bundle cannot
    express (a bring-your-own trainer, Clara-only machinery) is refused with exit 2 and nothing written.
    """
    _setup_logging(verbose)
    from runner.convert.write import convert_mmar

    def work() -> Any:
        if out is None:
            raise MmarRunnerError("no --out given", hint="mmar convert MMAR --out path/to/bundle")
        return convert_mmar(_mmar(mmar, m), out, config, environment, set_ or [], force)

    result = _reporting_errors(verbose, work)
    for name in result.written:
        typer.echo(f"wrote {result.target / name}")
    for file, count in result.imports_rewritten.items():
        typer.echo(f"scripts/{file}: {count} import{'s' if count != 1 else ''} of removed MONAI names rewritten")
    typer.echo(f"run it with: {result.command()}")


@app.command()
def build(mmar: MmarArg = None, m: MmarOpt = None,
          tag: Annotated[str, typer.Option("-t", "--tag", help="Image name:tag.")] = "mmar-bundle:latest",
          base_image: Annotated[Optional[str], typer.Option("--base-image", envvar="MMAR_BASE_IMAGE",
                                                            help="Base image [default: the Dockerfile's CUDA base].")] = None,
          wheelhouse: Annotated[Optional[Path], typer.Option(envvar="MMAR_WHEELHOUSE",
                                                             help="Folder of the locked wheels: build without network.")] = None,
          ca_cert: Annotated[Optional[list[Path]], typer.Option("--ca-cert", help="Extra CA certificate for a TLS-intercepting proxy (build stage only).")] = None,
          flavour: Annotated[str, typer.Option("--flavour", envvar="MMAR_IMAGE_FLAVOUR", metavar="cuda|cpu",
                                               help="Which torch the image gets: cuda (PyPI's CUDA 13.0 build, for docker run --gpus all; "
                                                    "also trains on CPU) or cpu (torch's +cpu build, smaller).")] = "cuda",
          torch_index_url: Annotated[Optional[str], typer.Option("--torch-index-url", envvar="MMAR_TORCH_INDEX_URL",
                                                                 help="--flavour cpu: the index holding torch's +cpu wheels [default: "
                                                                      "https://download.pytorch.org/whl/cpu]; 'none' when the wheelhouse or "
                                                                      "your index has them.")] = None,
          lock: Annotated[Optional[Path], typer.Option(help="Requirements with hashes [default: the flavour's lock shipped with mmar-runner].")] = None,
          runtime_only: Annotated[bool, typer.Option("--runtime-only", help="Build the shared runtime stage, no MMAR.")] = False,
          no_cache: Annotated[bool, typer.Option("--no-cache")] = False,
          allow_outside_links: Annotated[bool, typer.Option(
              "--allow-outside-links", help="Copy what symbolic links out of the MMAR point to (refused by default).")] = False,
          verbose: VerboseOpt = False) -> None:
    """Build a container image of an MMAR or a MONAI bundle (docker run IMAGE trains it), through the Docker SDK.

    The image gets the MMAR (or bundle) and nothing else: data, outputs, version control and anything that
    looks like a secret are left out (and listed), and a symbolic link out of the folder is refused.
    """
    _setup_logging(verbose)
    from runner.image.build import BuildRequest, build_image

    def work() -> Any:
        root = None if runtime_only else _mmar(mmar, m, bundles=True)
        request = BuildRequest(root, tag, base_image, wheelhouse, tuple(ca_cert or ()), no_cache, lock,
                               allow_outside_links=allow_outside_links, flavour=flavour, torch_index_url=torch_index_url)
        return build_image(request, progress=lambda line: typer.echo(line, err=True))

    result = _reporting_errors(verbose, work)
    typer.echo(f"image:         {result.tag} ({result.image_id})")
    typer.echo(f"flavour:       {result.flavour} (lock for Python {' '.join(result.pythons or ())})")
    typer.echo(f"built in:      {result.seconds:.1f}s ({'air-gapped' if result.air_gapped else 'with network'})")
    if result.mmar_digest:
        typer.echo(f"{'bundle' if result.source_format == 'bundle' else 'mmar'} digest:".ljust(15) + result.mmar_digest)
    if result.left_out:
        typer.echo(f"left out:      {len(result.left_out)} path{'s' if len(result.left_out) != 1 else ''} (listed above)")


@app.command()
def verify(mmar: MmarArg = None, m: MmarOpt = None, config: ConfigOpt = None, environment: EnvOpt = None,
           set_: SetOpt = None, verbose: VerboseOpt = False,
           iterations: Annotated[int, typer.Option(min=0, help="Iterations per run; 0 trains the full config.")] = 4,
           keep: Annotated[Optional[Path], typer.Option(help="Keep both runs' outputs in this folder.")] = None,
           tracking: TrackingOpt = None, tracking_uri: TrackingUriOpt = None, experiment: ExperimentOpt = None) -> None:
    """Train twice in separate processes and report bit-identical, or the first diverging tensor and why."""
    _setup_logging(verbose)
    from runner.workflow.verify import explain
    from runner.workflow.verify import verify as verify_runs

    spec = RunSpec("train", _root(mmar, m, verbose, bundles=True), config, environment, tuple(set_ or ()),
                   tracking=_tracking(verbose, tracking, tracking_uri, experiment))
    comparison, manifests = _reporting_errors(verbose, lambda: verify_runs(spec, iterations or None, keep, verbose))
    for line in explain(comparison):
        typer.echo(line)
    if manifests:
        typer.echo(f"manifests:     {manifests[0]}  {manifests[1]}")
    else:
        typer.echo("manifests:     removed with both runs' outputs (--keep DIR keeps them)")
    raise typer.Exit(0 if comparison.identical else 1)


@app.command()
def diff(first: Annotated[str, typer.Argument(help="run_manifest.json (or its folder), or an MLflow run id.")],
         second: Annotated[str, typer.Argument(help="run_manifest.json (or its folder), or an MLflow run id.")],
         tracking_uri: TrackingUriOpt = None, verbose: VerboseOpt = False) -> None:
    """What differs between two runs (variables, --set values, versions, data, settings), how each ended, and whether their weights agree."""
    _setup_logging(verbose)
    from runner.diff import render_diff
    from runner.workflow.verify import load_run

    def manifest(which: str) -> Path:
        from runner.tracking.mlflow_run import is_run_id, run_manifest

        if is_run_id(which) and not Path(which).exists():
            _mlflow_defaults()
            return run_manifest(tracking_uri, which)
        return Path(which)

    def report() -> Any:
        (first_run, first_data), (second_run, second_data) = load_run(manifest(first)), load_run(manifest(second))
        return render_diff(first_run, second_run, first_data, second_data)

    comparison, lines = _reporting_errors(verbose, report)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(0 if comparison.identical else 1)


@app.command()
def show(run: Annotated[Path, typer.Argument(help="A run's output folder (MMAR_CKPT_DIR, holding run_manifest.json) or its "
                                                  "manifest file.", show_default=False)],
         png: Annotated[Optional[Path], typer.Option("--png", help=f"Where the curves go [default: {SHOW_PNG} beside the manifest].",
                                                     show_default=False)] = None,
         verbose: VerboseOpt = False) -> None:
    """Print a run's summary and draw its loss, metric and learning-rate curves (from train_stats.json) into a PNG.

    Without train_stats.json (an evaluation, a failed or preempted training) only the summary is printed.
    The PNG needs matplotlib (pip install 'mmar-runner[show]'); without it the summary is printed and the exit code is 3.
    """
    _setup_logging(verbose)
    from runner.show import load_run, no_curves_reason, render_summary, write_curves

    view = _reporting_errors(verbose, lambda: load_run(run))
    for line in render_summary(view):
        typer.echo(line)
    reason = no_curves_reason(view)
    if reason is not None:
        logger.warning("no curves: %s", reason)
        return
    written = _reporting_errors(verbose, lambda: write_curves(view, png or view.folder / SHOW_PNG))
    typer.echo(f"curves:        {written}")


@app.command()
def k8s(mmar: MmarArg = None, m: MmarOpt = None,
        image: Annotated[str, typer.Option(help="The MMAR's or bundle's image (mmar build), as the cluster pulls it.")] = "",
        nodes: Annotated[int, typer.Option(min=1, help="Nodes; more than one makes an Indexed Job + headless Service.")] = 1,
        gpus_per_node: Annotated[int, typer.Option(min=0, help="nvidia.com/gpu per pod; one process each.")] = 1,
        data_pvc: Annotated[Optional[str], typer.Option(help="PersistentVolumeClaim mounted read-only at /data.")] = None,
        out_pvc: Annotated[Optional[str], typer.Option(help="PersistentVolumeClaim mounted at /out (RWX for several nodes).")] = None,
        namespace: Annotated[Optional[str], typer.Option()] = None,
        grace_seconds: Annotated[int, typer.Option(min=30, help="SIGTERM to SIGKILL: time to write a checkpoint.")] = 600,
        cpus: Annotated[Optional[str], typer.Option(help="CPU request = limit per pod [default: 8 per GPU, 4 without].")] = None,
        memory: Annotated[Optional[str], typer.Option(help="Memory request = limit per pod [default: 32Gi per GPU, 16Gi without].")] = None,
        shm_size: Annotated[Optional[str], typer.Option(help="/dev/shm, part of the memory [default: a quarter of it].")] = None,
        tracking_uri: Annotated[Optional[str], typer.Option("--tracking-uri", help="MLflow server the pods log to (MLFLOW_TRACKING_URI).")] = None,
        tracking_secret: Annotated[Optional[str], typer.Option(help="Secret with MLflow credentials, as environment variables.")] = None,
        set_: SetOpt = None, verbose: VerboseOpt = False) -> None:
    """Print Kubernetes manifests (Job, or Indexed Job + headless Service) that train the MMAR's or bundle's image.

    Pods pass the Pod Security Standard "restricted" and are Guaranteed (requests = limits). A MONAI bundle
    trains several processes with its configs/multi_gpu_train.json (required for more than one).
    """
    _setup_logging(verbose)
    from runner.image.source import BUNDLE_FORMAT, checked_source
    from runner.k8s import K8sRequest, bundle_train_configs, render, to_yaml

    def work() -> str:
        source = checked_source(_mmar(mmar, m, bundles=True))
        if not image:
            raise MmarRunnerError("--image is required", hint="build one with: mmar build MMAR -t REGISTRY/NAME:TAG")
        bundle = source.format == BUNDLE_FORMAT
        request = K8sRequest(source.name, image, nodes, gpus_per_node, data_pvc, out_pvc, namespace, shm_size=shm_size,
                             grace_seconds=grace_seconds, set_words=tuple(set_ or ()), cpus=cpus, memory=memory,
                             tracking_uri=tracking_uri, tracking_secret=tracking_secret, source_format=source.format,
                             version=source.version,
                             config=bundle_train_configs(source.root, nodes, gpus_per_node) if bundle else None)
        if not out_pvc:
            logger.warning("no --out-pvc: outputs go to an emptyDir and are lost with the pod")
        if not data_pvc and bundle:
            logger.warning("no --data-pvc: /data is an empty emptyDir; the bundle reads its data where its own dataset_dir "
                           "(or --set) says")
        elif not data_pvc:
            logger.warning("no --data-pvc: /data is an empty emptyDir; the run finds no data unless DATA_ROOT/DATASET_JSON "
                           "(--set) point at data baked into the image")
        return to_yaml(render(request))

    typer.echo(_reporting_errors(verbose, work), nl=False)


@app.command()
def schema(
    environment: Annotated[bool, typer.Option("--environment", help="Schema of environment.json instead.")] = False,
) -> None:
    """Print the JSON Schema of config_train.json, for editors and CI."""
    from runner.config.models import EnvironmentConfig, TrainConfig

    model = EnvironmentConfig if environment else TrainConfig
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", **model.model_json_schema(by_alias=True)}
    typer.echo(json.dumps(document, indent=2))


@app.command("synthetic-data")
def synthetic_data(
    out: Annotated[Path, typer.Argument(help="Folder to write images, labels and dataset.json into.")],
    train_cases: Annotated[int, typer.Option(min=1)] = 8,
    val_cases: Annotated[int, typer.Option(min=1)] = 2,
    test_cases: Annotated[int, typer.Option(min=0, help="Image-only cases under the datalist's 'test' key (mmar infer).")] = 2,
    size: Annotated[str, typer.Option(help="Volume shape x,y,z.")] = "64,64,48",
    seed: Annotated[int, typer.Option(min=0, max=2**32 - 1)] = 0,
    verbose: VerboseOpt = False,
) -> None:
    """Make a small spleen-like NIfTI data set, byte-identical for the same arguments."""
    _setup_logging(verbose)
    from runner.data.synthetic import SyntheticSpec, write_dataset

    try:
        shape = tuple(int(v) for v in size.split(","))
        if len(shape) != 3 or min(shape) < 16:
            raise ValueError
    except ValueError:
        typer.echo(f"error: --size: expected three integers >= 16 like 64,64,48, got {size!r}", err=True)
        raise typer.Exit(BAD_INPUT_EXIT) from None
    datalist = write_dataset(out, SyntheticSpec(train_cases, val_cases, test_cases, shape, seed=seed))  # type: ignore[arg-type]
    typer.echo(str(datalist))
