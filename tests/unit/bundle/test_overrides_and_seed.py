"""``--set`` words for bundles stay data, ids are MONAI's; the seed is read from the bundle without running it."""

from __future__ import annotations

import pytest

from runner.bundle.overrides import apply_overrides, check_override_ids, parse_overrides
from runner.bundle.seed import bundle_seed
from runner.errors import ConfigError

CONFIG = {"dataset_dir": "/x", "train": {"trainer": {"max_epochs": 1}, "handlers": [{"a": 1}]}, "lr": 0.1}


def test_values_are_json_literals_or_plain_words() -> None:
    found = {o.config_id: o.value for o in parse_overrides(
        ["dataset_dir=/data", "train#trainer#max_epochs=3", "lr=1e-3", "flag=true", "channels=[16, 32]", 'name="a b"',
         "train::handlers::0::a=2"])}
    assert found == {"dataset_dir": "/data", "train#trainer#max_epochs": 3, "lr": 0.001, "flag": True,
                     "channels": [16, 32], "name": "a b", "train#handlers#0#a": 2}


@pytest.mark.parametrize("word", ["lr=$1+1", "lr=@other", "lr=%file.json#x", 'lr=["ok", "$bad"]',
                                  'lr={"_target_": "os.system"}', 'lr={"deep": {"_mode_": "callable"}}', "noequals"])
def test_code_or_malformed_words_are_refused(word: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides([word])
    assert caught.value.issues[0].file == "--set"


def test_every_bad_word_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_overrides(["a=$x", "b=@y", "ok=1"])
    assert [i.path for i in caught.value.issues] == ["a", "b"]


def test_ids_must_exist_or_extend_a_mapping() -> None:
    config = {k: v for k, v in CONFIG.items()}
    check_override_ids(parse_overrides(["train#trainer#max_epochs=2", "train#trainer#new_arg=1", "train#handlers#0#a=3"]), config)
    with pytest.raises(ConfigError) as caught:
        check_override_ids(parse_overrides(["train#trainr#max_epochs=2", "train#handlers#5=1"]), config)
    assert [i.path for i in caught.value.issues] == ["train#trainr#max_epochs", "train#handlers#5"]
    assert "train#trainer#max_epochs" in (caught.value.issues[0].hint or "")


def test_apply_sets_nested_values_in_order() -> None:
    config = {"train": {"trainer": {"max_epochs": 1}, "handlers": [{"a": 1}]}}
    apply_overrides(config, parse_overrides(["train#trainer#max_epochs=2", "train#handlers#0#a=5", "train#trainer#max_epochs=4"]))
    assert config == {"train": {"trainer": {"max_epochs": 4}, "handlers": [{"a": 5}]}}


@pytest.mark.parametrize("initialize, seed, source", [
    (["$monai.utils.set_determinism(seed=123)"], 123, "initialize#0"),
    (["$import torch", "$set_determinism(7)"], 7, "initialize#1"),
    ("$monai.utils.set_determinism(seed=5)", 5, "initialize"),
    (["$monai.utils.set_determinism(seed=None)"], 0, "default"),
    (["$monai.utils.set_determinism(seed=@nothing)"], 0, "default"),
    (["$monai.utils.set_determinism(seed=@seed)"], 42, "initialize#0"),
    (["$setattr(torch.backends.cudnn, 'benchmark', True)"], 0, "default"),
    ([], 0, "default"),
])
def test_seed_is_the_literal_of_the_bundles_own_call(initialize: object, seed: int, source: str) -> None:
    found = bundle_seed({"initialize": initialize, "seed": 42})
    assert (found.seed, found.source) == (seed, source)
