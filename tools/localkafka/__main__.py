"""Run the harness's command line: `python -m localkafka up`."""

import sys

from localkafka import main

sys.exit(main())
