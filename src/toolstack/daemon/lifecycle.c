/* Exit files and the on_poweroff/on_reboot/on_crash decision. */
#include "toolstack/daemon/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const end_names[] = {
	[END_POWEROFF] = "poweroff", [END_RESET] = "reset",
	[END_CRASH] = "crash",	     [END_EXIT] = "exit",
	[END_HOST] = "host",	     [END_SAVED] = "saved",
	[END_MIGRATED] = "migrated", [END_ERROR] = "error",
	[END_KILLED] = "killed",
};

const char *life_end_name(enum life_end end)
{
	return (unsigned int)end < ARRAY_SIZE(end_names) ? end_names[end] : "?";
}

static int parse_status(const char **p, int *status)
{
	char *end;
	long v;

	if (**p != '-' && (**p < '0' || **p > '9'))
		return -EINVAL;
	v = strtol(*p, &end, 10);
	if (end == *p || *end != ' ' || v < -1 || v > 255)
		return -EINVAL;
	*status = (int)v;
	*p = end + 1;
	return 0;
}

static int parse_kind(const char **p, enum life_end *end_out)
{
	size_t n = strcspn(*p, " \n");
	size_t i;

	/* END_KILLED is ours: a VMM never writes it. */
	for (i = 0; i < END_KILLED; i++) {
		if (strlen(end_names[i]) == n &&
		    !strncmp(*p, end_names[i], n)) {
			*end_out = i;
			*p += n;
			if (**p == ' ')
				(*p)++;
			return 0;
		}
	}
	return -EINVAL;
}

int life_parse_exit(const char *text, size_t len, struct life_exit *out)
{
	char line[512];
	const char *p = line;
	struct life_exit e;
	size_t n;

	memset(&e, 0, sizeof(e));
	if (!len || len >= sizeof(line) || memchr(text, 0, len))
		return -EINVAL;
	memcpy(line, text, len);
	line[len] = 0;
	n = strcspn(line, "\n");
	if (line[n] == '\n' && line[n + 1])
		return -EINVAL; /* one line only */
	line[n] = 0;
	if (parse_status(&p, &e.status) || parse_kind(&p, &e.end))
		return -EINVAL;
	snprintf(e.reason, sizeof(e.reason), "%s", p);
	*out = e;
	return 0;
}

static unsigned int recent_restarts(const uint64_t *restarts, unsigned int nr,
				    uint64_t now_ns)
{
	unsigned int i, n = 0;

	for (i = 0; i < nr; i++)
		if (restarts[i] <= now_ns &&
		    now_ns - restarts[i] < LIFE_RESTART_WINDOW_NS)
			n++;
	return n;
}

/* The trigger and configured action for a guest's own end. */
static bool guest_trigger(const struct life_exit *e,
			  const struct domain_config *cfg,
			  struct life_decision *d)
{
	switch (e->end) {
	case END_POWEROFF:
	case END_EXIT:
		d->trigger = "on_poweroff";
		d->action = cfg->on_poweroff;
		return true;
	case END_RESET:
		d->trigger = "on_reboot";
		d->action = cfg->on_reboot;
		return true;
	case END_CRASH:
	case END_KILLED:
		d->trigger = "on_crash";
		d->action = cfg->on_crash;
		d->crashed = true;
		return true;
	default:
		return false;
	}
}

void life_decide(const struct life_exit *e, const struct domain_config *cfg,
		 const uint64_t *restarts, unsigned int nr, unsigned int max,
		 uint64_t now_ns, struct life_decision *out)
{
	struct life_decision d = { .verdict = LIFE_DESTROY };

	if (!guest_trigger(e, cfg, &d)) {
		/* Never started: keep it listed, or a failing restart would
		 * make the domain vanish without a trace. */
		if (e->end == END_ERROR) {
			d.verdict = LIFE_PRESERVE;
			d.crashed = true;
		}
		*out = d;
		return;
	}
	switch (d.action) {
	case DOMAIN_ACTION_COREDUMP_DESTROY:
		d.no_coredump = true;
		/* fall through */
	case DOMAIN_ACTION_DESTROY:
		d.verdict = LIFE_DESTROY;
		break;
	case DOMAIN_ACTION_COREDUMP_RESTART:
		d.no_coredump = true;
		/* fall through */
	case DOMAIN_ACTION_RESTART:
		d.verdict = LIFE_RESTART;
		break;
	case DOMAIN_ACTION_RENAME_RESTART:
		d.verdict = LIFE_RENAME_RESTART;
		break;
	case DOMAIN_ACTION_PRESERVE:
	default:
		d.verdict = LIFE_PRESERVE;
		break;
	}
	if ((d.verdict == LIFE_RESTART || d.verdict == LIFE_RENAME_RESTART) &&
	    recent_restarts(restarts, nr, now_ns) >= max) {
		d.verdict = LIFE_PRESERVE;
		d.loop_guard = true;
	}
	*out = d;
}

void life_note_restart(uint64_t *restarts, unsigned int *nr, uint64_t now_ns)
{
	if (*nr == LIFE_RESTARTS_KEPT) {
		memmove(restarts, restarts + 1,
			(LIFE_RESTARTS_KEPT - 1) * sizeof(*restarts));
		(*nr)--;
	}
	restarts[(*nr)++] = now_ns;
}
