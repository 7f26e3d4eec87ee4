#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pt_openat_private(int dirfd, const char *name, int flags)
{
    int fd;
    do {
        fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0600);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        return -errno;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
    }
    else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
    }
    else if (st.st_uid != geteuid() || st.st_nlink != 1) {
        rc = -EPERM;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int
pt_open_private(const char *path)
{
    return pt_openat_private(AT_FDCWD, path, O_RDWR | O_CREAT | O_APPEND);
}

int
pt_pwrite_all(int fd, const void *buf, size_t len, size_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -ENOSPC;
        }
        p += n;
        len -= (size_t)n;
        off += (size_t)n;
    }
    return 0;
}

/* fallocate() reserves the blocks in one call on most filesystems (ext4,
 * xfs, btrfs, tmpfs).  Where it is not supported (EOPNOTSUPP: some network
 * and FUSE filesystems) zeros are written, which allocates just as surely.
 * posix_fallocate() would fall back the same way, but glibc's refuses an
 * O_APPEND descriptor, and the perf map's and jitdump's are. */
int
pt_allocate(int fd, size_t off, size_t len)
{
    int err;
    do {
        err = fallocate(fd, 0, (off_t)off, (off_t)len) == 0 ? 0 : errno;
    } while (err == EINTR);
    if (err != EOPNOTSUPP && err != ENOSYS) {
        return -err;
    }
    static const char zeros[65536];
    int rc = 0;
    for (size_t at = 0; at < len && rc == 0; at += sizeof(zeros)) {
        size_t n = len - at < sizeof(zeros) ? len - at : sizeof(zeros);
        rc = pt_pwrite_all(fd, zeros, n, off + at);
    }
    return rc;
}

int
pt_read_prefix(int fd, size_t len, char **out, size_t *out_len)
{
    char *buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, (off_t)got);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int err = errno;
            free(buf);
            return -err;
        }
        if (n == 0) {
            break;
        }
        got += (size_t)n;
    }
    *out = buf;
    *out_len = got;
    return 0;
}

uint64_t
pt_process_start_ticks(void)
{
    char buf[4096];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) {
        return 0;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Field 22 counts from the last ')' (the command name may hold spaces). */
    char *p = strrchr(buf, ')');
    for (int field = 2; p != NULL && field < 22; field++) {
        p = strchr(p + 1, ' ');
    }
    unsigned long long ticks = 0;
    if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1) {
        return 0;
    }
    return ticks;
}
