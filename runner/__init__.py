"""mmar-runner: validated, bit-reproducible runs of Clara Train MMARs on MONAI."""

__version__ = "0.1.0"
__all__ = ["__version__"]
