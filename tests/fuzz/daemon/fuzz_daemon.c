/*
 * libFuzzer target: arbitrary bytes as what godwitd reads from outside:
 * the files it reads back after a restart (a domain's state file, a
 * VMM's exit file, an arrival's outcome file), the first bytes of a
 * connection to its relocation port, and a process's command line. They
 * may hold anything; a parse must fail cleanly, what parses must format
 * and parse back the same, and a verdict asking for more bytes must ask
 * for more than it was given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/daemon/arrival.h"
#include "toolstack/daemon/daemon.h"
#include "toolstack/daemon/lifecycle.h"
#include "toolstack/daemon/preamble.h"
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
	struct preamble pre;
	struct orphan o;
	char why[256];

	if (state_parse((const char *)data, size, &r, why, sizeof(why)) == 0)
		state_round_trip(&r);
	if (life_parse_exit((const char *)data, size, &e) == 0)
		(void)life_end_name(e.end);
	preamble_classify(data, size, &pre);
	if (pre.kind == PREAMBLE_MORE && pre.need <= size)
		abort();
	if (pre.kind == PREAMBLE_BAD && !memchr(pre.why, 0, sizeof(pre.why)))
		abort();
	if (orphan_parse((const char *)data, size, "/var/lib/godwit", &o) ==
		    0 &&
	    (!o.exit_file || !o.qmp))
		abort();
	(void)arrival_parse_word((const char *)data, size);
	return 0;
}
