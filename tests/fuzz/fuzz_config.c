/* make fuzz: waved.conf (common/config.c), whatever an operator may write. */
#include <stdlib.h>

#include "common/config.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *errors = NULL;
	struct config *cfg = config_load(fuzz_file("waved.conf", data, size), &errors);

	config_free(cfg);
	free(errors);
	return 0;
}
