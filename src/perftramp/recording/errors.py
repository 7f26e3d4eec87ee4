"""The one way perftramp's tools fail.

Code anywhere below the commands raises Failure where it finds it cannot go
on; `main` (perftramp/__main__.py) catches it, prints one line, "perftramp:
MESSAGE", on stderr, and exits with its code.  Nothing else prints errors,
so every failure looks the same and is said exactly once.  (argparse's own
usage errors keep argparse's form and its exit code 2.)
"""


class Failure(Exception):
    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
