"""The local API: `server` serves a stack's versions over HTTP the way API Gateway would, each
version in a worker process (`workers`) like a Lambda execution environment."""

from mlserve.local_api.server import LocalApi, main
from mlserve.local_api.workers import lambda_environment

__all__ = ["LocalApi", "lambda_environment", "main"]
