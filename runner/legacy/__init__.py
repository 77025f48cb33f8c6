"""Clara Train-era names and shapes: the alias table and mmar migrate."""
