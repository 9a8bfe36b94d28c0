"""mlserve's tooling: the offline engine, the CLI (`python -m mlserve`), generators and checks."""

__version__ = "2.0.0"
