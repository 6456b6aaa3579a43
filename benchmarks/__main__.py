"""``python -m benchmarks``: run every benchmark and print the summary line last.

Prefect reads its home folder when it is first imported, so a throwaway one is set
before anything imports it, unless the caller chose one.
"""

import os
import sys
import tempfile

if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="x-trends-bench-prefect-")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from benchmarks.run import main

sys.exit(main())
