"""`python -m digest` runs the `digest` command."""

import sys

from digest.cli.main import main

# Name the program as the console script does, in help text and in the lock file
# (`pid 123: digest run`) that a waiting process quotes.
sys.argv[0] = "digest"
main(prog_name="digest")
