"""AutoML search spaces become variables at their first point; alternatives collapse to the one enabled."""

from __future__ import annotations

from runner.config.kinds import foreign_config
from runner.legacy.automl import check_point, collapse_alternatives, expand_search_space


def config() -> dict:
    return {
        "learning_rate": 2e-4,
        "search": [{"domain": "lr", "type": "float", "args": ["learning_rate"], "targets": [1e-4, 1e-3]},
                   {"domain": "transform", "type": "enum", "args": ["useDice", "useFocal"], "targets": [[False, True], [True, False]]}],
        "train": {
            "loss": [{"name": "DiceLoss", "apply": {"@disabled": "useDice"}}, {"name": "FocalLoss", "apply": {"@disabled": "useFocal"}}],
            "lr_scheduler": {"name": "StepLR", "args": {"step_size": 5000},
                             "search": [{"type": "enum", "args": ["step_size"], "targets": [[5000], [1000]]}]},
            "pre_transforms": [{"name": "RandShiftIntensityd", "args": {"keys": "image", "prob": 0.5},
                                "search": [{"type": "float", "args": ["prob#myProb"], "targets": [0.1, 0.8]}]},
                               {"name": "RandGaussianNoised", "args": {"keys": "image", "prob": 0.1}, "apply": {"prob": "myProb"}},
                               {"name": "RandFlipd", "disabled": False, "args": {"keys": "image"},
                                "search": [{"type": "enum", "args": ["@disabled"], "targets": [[True], [False]]}]}],
            "trainer": {"name": "SupervisedTrainer"},
        },
    }


def test_every_dimension_becomes_a_variable_at_its_first_point() -> None:
    expanded, space, issues = expand_search_space(config(), "c.json")
    assert issues == [] and "search" not in expanded
    assert space.first_point() == {"learning_rate": 1e-4, "useDice": False, "useFocal": True, "StepLR_step_size": 5000, "myProb": 0.1,
                                   "RandFlipd_disabled": True}
    assert expanded["train"]["lr_scheduler"] == {"name": "StepLR", "args": {"step_size": "{StepLR_step_size}"}}
    shift, noise, flip = expanded["train"]["pre_transforms"]
    assert shift["args"]["prob"] == noise["args"]["prob"] == "{myProb}", "the alias and apply share one variable"
    assert flip["disabled"] == "{RandFlipd_disabled}"
    assert expanded["train"]["loss"][0] == {"name": "DiceLoss", "disabled": "{useDice}"}


def test_the_enabled_alternative_is_kept_and_a_point_outside_the_space_is_refused() -> None:
    resolved = {"train": {"loss": [{"name": "DiceLoss", "disabled": False}, {"name": "FocalLoss", "disabled": True}], "trainer": {}}}
    collapsed, chosen, issues = collapse_alternatives(resolved, "c.json")
    assert collapsed["train"]["loss"] == {"name": "DiceLoss", "disabled": False} and chosen == {"train.loss": "DiceLoss"} and issues == []
    both = {"train": {"loss": [{"name": "DiceLoss"}, {"name": "FocalLoss"}]}}
    assert "2 of the alternatives DiceLoss, FocalLoss are enabled" in collapse_alternatives(both, "c.json")[2][0].message
    _, space, _ = expand_search_space(config(), "c.json")
    problems = check_point(space, {**space.first_point(), "useDice": True, "learning_rate": 0.01}, "c.json")
    assert [p.path for p in problems] == ["search[0]", "search[1]"]


def test_a_config_without_a_search_space_is_returned_as_it_is() -> None:
    plain = {"train": {"loss": {"name": "DiceLoss"}, "trainer": {"name": "SupervisedTrainer"}}}
    assert expand_search_space(plain, "c.json") == (plain, None, [])


def test_clara_configs_mmar_does_not_run_are_named() -> None:
    assert "AutoML controller" in foreign_config({"controller": {}, "executor": {}, "handlers": []}).message
    assert "federated-learning server" in foreign_config({"servers": [], "aggregator": {}}).message
    assert "federated-learning client" in foreign_config({"servers": [], "client": {}, "client_trainer": {}}).message
    assert "AI-Assisted Annotation" in foreign_config({"inference": {}, "pre_transforms": []}).message
    assert "no \"train\" section" in foreign_config({"max_epochs": 100, "learning_rate": 2e-4}).message
    assert foreign_config({"train": {}}) is None and foreign_config({"evaluator": {}}) is None
