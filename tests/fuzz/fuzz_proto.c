/* make fuzz: a line on a worker's pipe (common/proto.c), as a worker could send it. */
#include <stdlib.h>

#include "common/proto.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = fuzz_string(data, size), err[256];
	struct proto_msg m;

	proto_parse(line, &m, err, sizeof(err));
	free(line);
	return 0;
}
