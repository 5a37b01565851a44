"""``run-pipeline`` with the coordination Redis installed, in a process of its own: what
``run-pipeline --redis URL`` does, so the coordination tests do not depend on how the
option is wired.

    python coord_driver.py REDIS_URL run-pipeline-arguments...
"""

from __future__ import annotations

import sys

from hookline.cli import run_pipeline_main
from hookline.scale._coordinate import install_redis

if __name__ == "__main__":
    install_redis(sys.argv[1])
    sys.exit(run_pipeline_main(sys.argv[2:]))
