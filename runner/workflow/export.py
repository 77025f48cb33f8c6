"""``mmar export``: a training checkpoint as TorchScript at MMAR_TORCHSCRIPT, proven by loading it back.

The network is rebuilt (config_train.json's class, with the argument values the checkpoint was
trained with), its weights loaded, compiled with ``torch.jit.script`` (``torch.jit.trace`` on a sample input when scripting
is not possible), written atomically, loaded again and compared with the eager network on a seeded
sample input. The file carries ``mmar_export.json`` (checkpoint and weights digests) as an extra file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.components.build import Builder
from runner.components.saved_models import load_checkpoint, network_from_checkpoint
from runner.config.load import LoadedConfig
from runner.determinism import apply_determinism, prepare_process_env
from runner.errors import MmarRunnerError, RunFailedError, first_line
from runner.jsonio import write_atomic
from runner.legacy.clara_code import mmar_code
from runner.manifest import file_digest, model_state, weights_digest
from runner.mmar import resolve_in_mmar
from runner.workflow.common import settings_for
from runner.workflow.provenance import report_checkpoint
from runner.workflow.session import RunSession

logger = logging.getLogger(__name__)

EXTRA_FILE = "mmar_export.json"
DEFAULT_SPATIAL_SIZE = 64


@dataclass(frozen=True)
class ExportResult:
    path: Path
    method: str  # "script" or "trace"
    input_shape: list[int]
    max_abs_difference: float
    bit_identical: bool
    weights_digest: str


def export_torchscript(loaded: LoadedConfig, checkpoint: str | None = None, output: str | None = None,
                       input_shape: list[int] | None = None, verify: bool = True) -> ExportResult:
    """Export MMAR_CKPT (or ``checkpoint``) to MMAR_TORCHSCRIPT (or ``output``).

    Raises:
        ComponentError: the checkpoint is missing, unreadable or does not fit the network.
        RunFailedError: the network cannot be compiled, or the exported model disagrees with it.
    """
    import torch

    prepare_process_env()
    root = loaded.mmar.root
    ckpt_path = resolve_in_mmar(root, checkpoint or str(loaded.variables["MMAR_CKPT"]))
    out_path = resolve_in_mmar(root, output or str(loaded.variables["MMAR_TORCHSCRIPT"]))
    where = "--model_path" if checkpoint else "MMAR_CKPT"
    # No lock: export reads a finished checkpoint and writes one file atomically, so exporting the best
    # model so far while training goes on in the same folder is fine.
    with RunSession(out_path.parent, None, "export", lock=False), mmar_code(root):
        apply_determinism(settings_for(loaded))
        builder = Builder(loaded, device=torch.device("cpu"), amp=False)
        stored = load_checkpoint(ckpt_path, loaded.mmar.environment_name if not checkpoint else "mmar export", where)
        network = network_from_checkpoint(builder, stored, where).eval()
        shape = input_shape or _default_shape(network)
        sample = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        compiled, method = _compile(network, sample)
        origin = report_checkpoint(ckpt_path)
        metadata = {"checkpoint": str(ckpt_path), "checkpoint_digest": file_digest(ckpt_path),
                    "checkpoint_written_by": origin["written_by"] if origin else None,
                    "weights_digest": weights_digest(model_state(network)), "method": method, "input_shape": shape}
        write_atomic(out_path, lambda tmp: torch.jit.save(compiled, str(tmp), _extra_files={EXTRA_FILE: json.dumps(metadata)}))
        difference, identical = _compare(network, out_path, sample) if verify else (float("nan"), False)
        if verify and not difference <= 1e-5:
            out_path.unlink(missing_ok=True)
            raise RunFailedError(f"the exported model disagrees with the checkpoint's network (max |diff| {difference:.3g}); "
                                 f"{out_path} removed")
    logger.info("exported %s with torch.jit.%s", out_path, method)
    return ExportResult(out_path, method, shape, difference, identical, metadata["weights_digest"])


def _default_shape(network: Any) -> list[int]:
    """[1, in_channels, 64, 64(, 64)] from the network's first layer; pass --input-shape otherwise."""
    import torch

    for module in network.modules():
        if isinstance(module, (torch.nn.Conv3d, torch.nn.Conv2d, torch.nn.Conv1d)):
            dims = {torch.nn.Conv3d: 3, torch.nn.Conv2d: 2, torch.nn.Conv1d: 1}[type(module)]
            return [1, module.in_channels, *[DEFAULT_SPATIAL_SIZE] * dims]
    raise MmarRunnerError("cannot tell the network's input shape", hint="pass --input-shape '[1, 1, 96, 96, 96]'")


def _compile(network: Any, sample: Any) -> tuple[Any, str]:
    import torch

    try:
        return torch.jit.script(network), "script"
    except Exception as script_error:  # noqa: BLE001 - scripting fails in many ways; tracing is the fallback
        logger.info("torch.jit.script failed (%s); tracing with a sample input instead", first_line(script_error))
        try:
            with torch.no_grad():
                return torch.jit.trace(network, sample), "trace"
        except Exception as trace_error:  # noqa: BLE001
            raise RunFailedError(f"the network can be neither scripted nor traced: {first_line(trace_error)}") from trace_error


def _compare(network: Any, path: Path, sample: Any) -> tuple[float, bool]:
    import torch

    reloaded = torch.jit.load(str(path), map_location="cpu").eval()
    with torch.no_grad():
        expected, actual = network(sample), reloaded(sample)
    return float((expected - actual).abs().max()), bool(torch.equal(expected, actual))
