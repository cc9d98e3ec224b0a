import sys

from kerastune.cli import main

sys.exit(main())
