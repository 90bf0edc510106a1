import sys

from diffuhand.cli import main

sys.exit(main())
