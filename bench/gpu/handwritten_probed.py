"""``bench/handwritten_spleen.py`` exactly as it is, with the GPU probe attached beside its own probe.

The hand-written script attaches ``FirstIterationProbe`` to its trainer and nothing else; the GPU
check also needs iterations/s and peak GPU memory (``gpu_probe.GpuProbe``). Rather than a second
copy of the script, this runs the script's own ``main()`` with its probe name bound to a probe that
attaches both. Same arguments as the script.

    python bench/gpu/handwritten_probed.py --data-root DIR --datalist DIR/dataset.json --output-dir OUT ...
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import handwritten_spleen  # noqa: E402
from bench_probe import FirstIterationProbe  # noqa: E402
from gpu_probe import GpuProbe  # noqa: E402


class BothProbes(FirstIterationProbe):
    """The script's first-iteration probe, and the GPU probe on the same engine."""

    def attach(self, engine: Any) -> None:
        super().attach(engine)
        GpuProbe().attach(engine)


def main(argv: list[str] | None = None) -> int:
    handwritten_spleen.FirstIterationProbe = BothProbes  # type: ignore[misc]  # the name main() looks up
    return handwritten_spleen.main(argv)


if __name__ == "__main__":
    sys.exit(main())
