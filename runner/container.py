"""The image's entry point: ``docker run IMAGE [COMMAND] [--set KEY=VALUE ...] [options]``.

The MMAR is baked in at /opt/mmar (read-only), outputs go to the /out volume, and a data set
mounted at /data is used when it has a dataset.json. A MONAI bundle baked there gets its folders
pointed at the same mounts (runner.image.bundle_paths). Extra words reach the CLI unchanged; a
``--set`` of the user's comes last, so it wins over these defaults. Before any work the host is
checked (GPU, architecture, driver), so a wrong host fails in seconds with one message.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from runner.image.bundle_paths import container_bundle_words, is_bundle_root

MMAR_IN_IMAGE = Path(os.environ.get("MMAR_ROOT", "/opt/mmar"))
OUT = Path("/out")
DATA = Path("/data")
COMMANDS = ("train", "finetune", "validate", "infer", "export", "check")
NEEDS_HOST_CHECK = ("train", "finetune", "validate", "infer")


def container_argv(words: list[str], mmar: Path = MMAR_IN_IMAGE, out: Path = OUT, data: Path = DATA) -> list[str]:
    """The ``mmar`` command line for what the user typed after the image name."""
    command, rest = (words[0], words[1:]) if words and words[0] in COMMANDS else ("train", words)
    if is_bundle_root(mmar):
        defaults = container_bundle_words(mmar, command, rest, out, data)
    else:
        defaults = [f"MMAR_CKPT_DIR={out}", f"MMAR_CKPT={out}/model.pt", f"MMAR_TORCHSCRIPT={out}/model.ts",
                    f"MMAR_EVAL_OUTPUT_PATH={out}/eval"]
        if (data / "dataset.json").is_file():
            defaults += [f"DATA_ROOT={data}", f"DATASET_JSON={data}/dataset.json"]
    argv = [command, str(mmar)]
    if command in ("train", "finetune"):
        argv.append("--no-progress")
    return [*argv, "--set", *defaults, *rest] if defaults else [*argv, *rest]


def preflight(argv: list[str]) -> None:
    """Refuse a host that cannot run the config (see runner.image.preflight); no-op for check/export.

    A bundle says which device it uses in its own ``device`` item (zoo bundles: a GPU when one is
    visible), so a bundle's run is held to a GPU exactly when one is visible.
    """
    from runner.argv import expand_set_words
    from runner.config.kinds import INFERENCE, TRAIN, VALIDATION
    from runner.config.load import load_config
    from runner.image.preflight import check_host, gather

    command = argv[0]
    if command not in NEEDS_HOST_CHECK:
        return
    if is_bundle_root(Path(argv[1])):
        import torch

        facts = gather(torch)
        check_host(facts, facts.gpu_count > 0)
        return
    words = expand_set_words(argv)
    sets = [w for i, w in enumerate(words) if i > 0 and words[i - 1] == "--set"]
    kind = {"validate": VALIDATION, "infer": INFERENCE}.get(command, TRAIN)
    loaded = load_config(argv[1], None, None, sets, strict=False, kind=kind)
    import torch

    check_host(gather(torch), bool(loaded.model.use_gpu))


def main() -> None:
    from runner import collector
    from runner.startup_path import drop_custom_from_import_path, warn_dropped

    dropped = drop_custom_from_import_path(os.environ, sys.path)  # docker run -e PYTHONPATH=/opt/mmar/custom
    collector.pause_for_startup()  # before the CLI's imports, as the ``mmar`` entry point does
    from runner.cli import _setup_logging
    from runner.errors import MmarRunnerError

    _setup_logging(verbose=False)
    argv = container_argv(sys.argv[1:])
    warn_dropped(dropped)
    scratch = os.environ.get("TMPDIR")
    if scratch:
        Path(scratch).mkdir(parents=True, exist_ok=True)  # under /out: the root file system may be read-only
    try:
        preflight(argv)
    except MmarRunnerError as exc:
        print(f"error: {exc.render()}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    logging.getLogger("runner").info("mmar %s", " ".join(argv))
    sys.argv = ["mmar", *argv]
    from runner.entry import main as mmar_main

    mmar_main()


if __name__ == "__main__":
    main()
