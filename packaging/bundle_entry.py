"""The desktop bundle's program (packaging/vocoscope.spec): the `vocoscope` command, as the wheel's script runs it."""

import sys

from app.__main__ import main

sys.exit(main())
