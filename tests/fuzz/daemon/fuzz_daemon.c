/*
 * libFuzzer target: arbitrary bytes as the files godwitd reads back
 * after a restart — a domain's state file and a VMM's exit file. They
 * live on disk where anything may have happened to them; a parse must
 * fail cleanly, and what parses must format and parse back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/daemon/lifecycle.h"
#include "toolstack/daemon/statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void state_round_trip(const struct dom_record *r)
{
	struct dom_record again;
	char why[256], *text;

	if (state_format(r, &text))
		return;
	if (state_parse(text, strlen(text), &again, why, sizeof(why)) ||
	    again.domid != r->domid || again.state != r->state ||
	    again.pid != r->pid || strcmp(again.name, r->name) ||
	    strcmp(again.qmp, r->qmp))
		abort();
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dom_record r;
	struct life_exit e;
	char why[256];

	if (state_parse((const char *)data, size, &r, why, sizeof(why)) == 0)
		state_round_trip(&r);
	if (life_parse_exit((const char *)data, size, &e) == 0)
		(void)life_end_name(e.end);
	return 0;
}
