"""``from medl.engines.iterations import Iteration`` as in Clara Train; the class is :class:`runner.byoc.Iteration`."""

from runner.byoc import Iteration

__all__ = ["Iteration"]
