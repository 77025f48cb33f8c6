"""Clara Train compatibility: the ``medl`` import paths that BYOC code written for Clara Train uses.

Only the names Clara's documented BYOC examples import are provided, each an alias of the
mmar-runner equivalent, so files written for Clara Train run without edits. New code should
import from :mod:`runner.byoc`.
"""
