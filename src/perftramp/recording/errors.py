"""The one way a subcommand fails.

A subcommand raises CliError wherever it finds it cannot go on; `main`
(perftramp/__main__.py) catches it and prints one line, "perftramp:
MESSAGE", on stderr, and exits with its code.  Nothing else prints errors,
so every failure looks the same and is said exactly once.  (argparse's own
usage errors keep argparse's form and its exit code 2.)
"""


class CliError(Exception):
    def __init__(self, message, exit_code=2):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
