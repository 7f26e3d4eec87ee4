/*
 * File handling for the perf_elf image: its directory, creating or
 * continuing the file, its build-id.  See elfimage_file.h.
 */
#include "elfimage_file.h"
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int
pt_elf_open_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        /* Only the last component: the default's parent is /tmp, a
         * recording's is the recording. */
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            return -errno;
        }
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
    }
    else if (!S_ISDIR(st.st_mode)) {
        rc = -ENOTDIR;
    }
    /* A directory others may write in without the sticky bit, or one that
     * is someone else's (another user's /tmp/perftramp-UID, planted before
     * us), could have our file swapped under it between two opens. */
    else if (!(st.st_mode & S_ISVTX) &&
             (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)))) {
        rc = -EPERM;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int
pt_elf_create(int dirfd, const char *name)
{
    return pt_openat_private(dirfd, name, O_RDWR | O_CREAT | O_EXCL);
}

int
pt_elf_open_existing(int dirfd, const char *name)
{
    return pt_openat_private(dirfd, name, O_RDWR);
}

void
pt_elf_new_build_id(uint8_t *id, size_t len)
{
    ssize_t got = getrandom(id, len, GRND_NONBLOCK);
    if (got == (ssize_t)len) {
        return;
    }
    /* No entropy yet (early boot): the pid and the time still tell this
     * file from every other perftramp makes. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed[3] = {(uint64_t)getpid(), (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec};
    for (size_t i = 0; i < len; i++) {
        seed[i % 3] = seed[i % 3] * 6364136223846793005ull + 1442695040888963407ull;
        id[i] = (uint8_t)(seed[i % 3] >> 56);
    }
}
