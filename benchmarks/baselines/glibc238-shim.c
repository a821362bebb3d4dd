/*
 * The three GLIBC_2.38 symbols that the prebuilt uWebSockets.js binary (used by the Soketi
 * baseline of `tidings bench`) needs, for a glibc older than 2.38 (Debian 12 has 2.36).
 *
 * glibc 2.38 added the C23 variants of the scanf and strtol families, which also accept the
 * "0b" binary prefix; the binary is compiled against them but uses them only for decimal and
 * hexadecimal numbers, so forwarding to the classic functions is faithful for it. Built by
 * `make bench-deps` and preloaded (LD_PRELOAD) into the Soketi process only, after
 * elf_weak_version.py marked the binary's GLIBC_2.38 requirement weak.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int __isoc23_sscanf(const char *str, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int matched = vsscanf(str, format, args);
    va_end(args);
    return matched;
}

long __isoc23_strtol(const char *nptr, char **endptr, int base) {
    return strtol(nptr, endptr, base);
}

unsigned long __isoc23_strtoul(const char *nptr, char **endptr, int base) {
    return strtoul(nptr, endptr, base);
}
