"""Every example of ../shared/seed/clara-train-byoc.txt is in a bundle, byte for byte.

The page is the document the product grew from; its examples must run as written. Each example
is found in the page by its heading and compared, as bytes, with the bundle file that holds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SEED = REPO.parent / "shared" / "seed" / "clara-train-byoc.txt"
SEED_IN_REPO = REPO / "tests" / "fixtures" / "clara-train-byoc.txt"

# heading in the page -> (first line of the example, last line, bundle file that holds it)
EXAMPLES = {
    "Bring extra input data for the network": ("class ExtraInputNet", 'engine.state.batch["extra"]', "byoc_extra_input/custom/extra_input.py"),
    "Keep init weights of the network for loss": ("class SaveInitWeightsHandler", "copy.deepcopy(engine.network.state_dict())",
                                                  "byoc_init_weights/custom/init_weights.py"),
    "Add noise to predictions before loss": ("from monai.engines import IterationEvents", 'output["pred"] += 1.0',
                                             "byoc_add_noise/custom/add_noise.py"),
    "Shutdown program if loss < 0.5": ("class ShutDownHandler", "engine.terminate()", "byoc_shutdown/custom/shutdown.py"),
    "Do optimizer.step() every 10 iterations": ("from medl.engines.iterations import Iteration", "return {", "byoc_accumulate/custom/accumulate.py"),
    "Customize SupervisedTrainer": ("from ignite.engine import EventEnum", "self.register_events(*CustomEvents)",
                                    "byoc_custom_events/custom/custom_trainer.py"),
    "BYOW: BYOC Trainer": ("{", "}", "byow_trainer/config/config_train.json"),
}


def seed_text() -> str:
    """The page from ../shared when this checkout has it beside it, else the copy in tests/fixtures."""
    source = SEED if SEED.is_file() else SEED_IN_REPO
    return source.read_text(encoding="utf-8")


def example(heading: str) -> str:
    """The lines from the example's first line after ``heading`` to its last line, as printed."""
    first, last, _ = EXAMPLES[heading]
    lines = seed_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == heading)
    begin = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(first))
    end = next(i for i in range(begin, len(lines)) if last in lines[i] and (last != "}" or lines[i] == "}\n" or lines[i] == "}"))
    return "".join(lines[begin:end + 1])


def test_the_copy_in_the_repository_is_the_page() -> None:
    """CI clones the repository alone; the copy must be the page itself, not a rewrite of it."""
    if SEED.is_file():
        assert SEED_IN_REPO.read_bytes() == SEED.read_bytes()
    assert len(seed_text().splitlines()) == 148


@pytest.mark.parametrize("heading", list(EXAMPLES))
def test_the_bundle_holds_the_example_byte_for_byte(heading: str) -> None:
    code = example(heading)
    held = (REPO / "bundles" / EXAMPLES[heading][2]).read_text(encoding="utf-8")
    assert code.count("\n") >= 4, code
    assert code in held or code + "\n" == held, f"{EXAMPLES[heading][2]} does not hold the page's example as printed:\n{code}"


def test_the_byow_config_is_the_whole_file() -> None:
    assert (REPO / "bundles" / "byow_trainer" / "config" / "config_train.json").read_text() == example("BYOW: BYOC Trainer") + "\n"
