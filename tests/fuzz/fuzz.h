/*
 * What the libFuzzer harnesses share (make fuzz): the entry point libFuzzer
 * calls, and a scratch folder for the parsers that read files.
 */
#ifndef WAVED_FUZZ_H
#define WAVED_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (caller frees). */
char *fuzz_string(const uint8_t *data, size_t size);
/* Write the input to NAME in this process's scratch folder; its path (do not free). */
const char *fuzz_file(const char *name, const uint8_t *data, size_t size);
/* This process's scratch folder, made on first use and removed at exit. */
const char *fuzz_dir(void);

#endif
