"""``python -m tfcompat.doctor [PYTHON] [options]``: the doctor with its own exit code."""

import sys

from tfcompat.doctor.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
