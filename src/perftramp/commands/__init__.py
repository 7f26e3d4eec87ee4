"""perftramp's subcommands, one thin module each: parse arguments, call the
domain layer (perftramp.recording), print."""
