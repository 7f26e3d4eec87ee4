"""The subcommands of `perftramp`, one module each."""
