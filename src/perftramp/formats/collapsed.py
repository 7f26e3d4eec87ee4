"""One line per stack, frame;frame;... COUNT: flamegraph.pl's input."""

DESCRIPTION = "one line per stack: frame;frame;... COUNT (flamegraph.pl input)"


def render(profile, options):
    return "".join("%s %d\n" % (s, c) for s, c in sorted(profile.stacks.items()))
