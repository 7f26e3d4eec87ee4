/*
 * A fork as C code that spawns a program makes it: from a thread that has
 * released the GIL, with the child leaving at once (where a spawner would
 * exec).  tests/python/stress.py builds this into a shared library and calls
 * it through ctypes.CDLL, which releases the GIL around the call: the other
 * threads go on making trampolines while fork() runs perftramp's
 * pthread_atfork handlers, the only perftramp code that ever runs without
 * the GIL, so the only place ThreadSanitizer can see two threads meet in it.
 */
#include <sys/types.h>
#include <unistd.h>

int
pt_stress_fork_exit(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    return (int)pid;
}
