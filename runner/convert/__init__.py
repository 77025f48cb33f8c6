"""``mmar convert MMAR --out DIR``: a Clara 4.0/4.1 MMAR as a MONAI bundle that trains to the same weights (docs/CONVERT.md)."""
