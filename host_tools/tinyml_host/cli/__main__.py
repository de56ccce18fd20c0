import sys

from tinyml_host.cli.main import main

sys.exit(main())
