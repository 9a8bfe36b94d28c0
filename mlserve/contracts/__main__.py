"""`python -m mlserve.contracts lock|check`, the same as `python -m mlserve contracts ...`."""

import sys

from mlserve.contracts.gate import main

sys.exit(main(sys.argv[1:]))
