"""The domain layer under perftramp's commands: what a recording is and how
one is made and read.  Its modules import one another and perftramp's
_backends, never perftramp.commands or perftramp.formats.

    errors       Failure, the one way the tools fail
    progress     say(): progress and advice on stderr
    procfs       the kernel's settings (/proc/sys)
    signals      SIGTERM and SIGHUP as SystemExit, for cleanup
    interpreter  asking interpreters about themselves
    perf         perf: finding it, its version, its command lines
    sysctl       kernel.perf_event_max_stack raised while recording
    process      a running process through /proc: namespaces, files
    elf          a section of an ELF file, its build-id
    active       which backend a running process has on: its files
    target       the CPython a running process runs
    remote       attaching to it (remote_script: what it runs)
    selftest     short real runs: a backend through this perf, attach
    choice       which backend records a program (or a running process)
    doctor       `check`'s findings (process_doctor: `check --pid`)
    layout       a recording's directory and perftramp.json
    untrusted    reading files of a recording that may be someone else's
    jitdir       where jitdumps are written while recording
    maps         perf maps taken into a recording
    pack         perf.jit.data and jit/ as one file, and back
    staging      what perf needs, put where it looks, while a report runs
    session      one recording, from perf record to perftramp.json
    collect      what it takes of the processes it recorded
    buildids     its build-id cache: containers' objects
    folded       the folded stacks, stored in the recording
    selection    which processes a report shows
"""
