"""``python -m acclip_optax.testbeds.data install``: installs the datasets."""

import sys

from acclip_optax.testbeds.data._install import main

if __name__ == "__main__":
  sys.exit(main())
