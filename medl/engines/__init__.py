"""Clara Train's ``medl.engines`` namespace (compatibility; see :mod:`medl`)."""
