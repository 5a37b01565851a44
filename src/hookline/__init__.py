"""hookline: declarative YAML pipelines for API integrations.

The public surface is what ``__all__`` lists; everything else is private and may change.
"""

from __future__ import annotations

from ._engine import RunResult, run_pipeline
from ._errors import (
    ConnectorError,
    HooklineError,
    InputInvalid,
    PipelineInvalid,
    Problem,
    RunFailed,
    StepFailed,
    UsageError,
)
from ._load import load_pipeline
from ._model import Pipeline
from ._runtime import Runtime

__version__ = "0.1.0"

__all__ = [
    "ConnectorError",
    "HooklineError",
    "InputInvalid",
    "Pipeline",
    "PipelineInvalid",
    "Problem",
    "RunFailed",
    "RunResult",
    "Runtime",
    "StepFailed",
    "UsageError",
    "__version__",
    "load_pipeline",
    "run_pipeline",
]
