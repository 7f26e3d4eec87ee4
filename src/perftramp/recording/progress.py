"""Progress and advice for the user, on stderr (stdout is for results)."""
import sys


def say(message: str) -> None:
    sys.stderr.write("perftramp: %s\n" % message)
    sys.stderr.flush()
