"""`python -m adnkit`: the `adnkit` command."""

import sys

from adnkit.cli.main import main

sys.exit(main())
