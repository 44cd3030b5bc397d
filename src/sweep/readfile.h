/*
 * readfile.h - reading a whole file, for the loaders of the sweep and interpret layers (the
 * core does no I/O).
 */
#ifndef JARM_READFILE_H_
#define JARM_READFILE_H_

#include <stddef.h>

/*
 * Read the whole file at path into a malloc'd buffer (*buf, *len; free it). Returns 0, or a
 * negative errno code (-ENOENT, -ENOMEM, -EIO...) with "PATH: reason" in err.
 */
int jarm__read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

#endif /* JARM_READFILE_H_ */
