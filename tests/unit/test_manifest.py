from __future__ import annotations

import io
from pathlib import Path

import torch

from runner.manifest import config_digest, json_data, weights_digest


def state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(3, 4, generator=g), "a.bias": torch.zeros(3), "bn.num_batches_tracked": torch.tensor(7)}


def test_digest_ignores_insertion_order_but_not_contents() -> None:
    base = state()
    reordered = dict(reversed(list(base.items())))
    assert weights_digest(base) == weights_digest(reordered)
    changed = state()
    changed["a.bias"][1] = 1e-7
    assert weights_digest(changed) != weights_digest(base)


def test_digest_sees_dtype_shape_and_names() -> None:
    base = state()
    assert weights_digest({**base, "a.bias": base["a.bias"].double()}) != weights_digest(base)
    assert weights_digest({**base, "a.weight": base["a.weight"].reshape(4, 3)}) != weights_digest(base)
    renamed = {("b.bias" if k == "a.bias" else k): v for k, v in base.items()}
    assert weights_digest(renamed) != weights_digest(base)


def test_digest_handles_bf16_bool_and_non_contiguous() -> None:
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert weights_digest({"x": t.t()}) == weights_digest({"x": t.t().contiguous()})
    assert weights_digest({"x": t.bfloat16()}) != weights_digest({"x": t})
    assert weights_digest({"m": torch.tensor([True, False])}).startswith("sha256:")


def test_digest_is_independent_of_torch_save_bytes() -> None:
    base = state()
    buffers = []
    for _ in range(2):
        buffer = io.BytesIO()
        torch.save(base, buffer)
        buffers.append(buffer.getvalue())
    loaded = torch.load(io.BytesIO(buffers[0]), weights_only=True)
    assert weights_digest(loaded) == weights_digest(base)


def test_config_digest_survives_moving_the_mmar() -> None:
    one = {"a": "/old/place/models", "b": 1}
    two = {"a": "/new/spot/models", "b": 1}
    assert config_digest(one, Path("/old/place")) == config_digest(two, Path("/new/spot"))
    assert config_digest({**one, "b": 2}, Path("/old/place")) != config_digest(one, Path("/old/place"))


def test_config_digest_ignores_where_outputs_go() -> None:
    one = {"train": {"handlers": [{"args": {"save_dir": "/out/a"}}]}, "lr": 1}
    two = {"train": {"handlers": [{"args": {"save_dir": "/elsewhere/b"}}]}, "lr": 1}
    assert config_digest(one, Path("/m"), {"MMAR_CKPT_DIR": "/out/a"}) == config_digest(two, Path("/m"), {"MMAR_CKPT_DIR": "/elsewhere/b"})
    assert config_digest(one, Path("/m")) != config_digest(two, Path("/m"))


def test_variables_are_recorded_as_plain_json_data() -> None:
    assert json_data({"root": Path("/mmar"), "lr": 0.001, "sizes": (96, 96), "amp": True}) == {
        "root": "/mmar", "lr": 0.001, "sizes": [96, 96], "amp": True}
