"""python launch.py [CONFIG.yaml] [key=value ...] [--resume] [--dry-run]  ->  `r1zero train ...`"""

import sys

from r1zero.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
