/*
 * The perf_elf image's file system side: a private directory, a file made
 * only by us, a build-id no other file shares.  (Writing whole and reserving
 * blocks are fileio.h's, shared with the other writers.)  Every function
 * returns 0 (or a descriptor) or a negative errno.
 */
#ifndef PERFTRAMP_CORE_ELFIMAGE_FILE_H
#define PERFTRAMP_CORE_ELFIMAGE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens `dir`, creating it 0700 when missing (its last component only).
 * Refused (-EPERM): a directory that is not ours, or that others may write
 * in, unless it has the sticky bit (/tmp itself); -ENOTDIR. */
int pt_elf_open_dir(const char *dir);

/* Creates dir/name: O_EXCL, O_NOFOLLOW, 0600; -EEXIST when something is
 * there already. */
int pt_elf_create(int dirfd, const char *name);

/* Opens an existing dir/name that must be a regular file of ours with no
 * other link (-ELOOP for a symlink, -EPERM, -EINVAL). */
int pt_elf_open_existing(int dirfd, const char *name);

/* Fills id with random bytes (pid and time when the kernel has none). */
void pt_elf_new_build_id(uint8_t *id, size_t len);

#endif
