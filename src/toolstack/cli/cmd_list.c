/*
 * godwit list, as xl list: xl's columns exactly (Name, ID, Mem, VCPUs,
 * State with r b p s c d, Time(s)); -l is xl's JSON dump (each domain's
 * id and configuration, in libxl's shape: c_info, b_info, disks, nics,
 * on_*), -v the columns plus the UUID, how it last ended and its disks;
 * --json godwitd's own answer. A DOMAIN that is not there is an error,
 * exit status 1, as in xl. The list fetch and lookup serve the other
 * domain queries too (cmd_info.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <godwit/domain.h>

#include "common/compiler.h"
#include "config/domain_config.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

static bool is_saved(const struct godwit_domain_info *d)
{
	return !strcmp(d->state, "saved");
}

/* Leave out the managed saves (godwit managedsave): no VM runs them. */
static void drop_saved(struct godwit_domain_info *list, size_t *n)
{
	size_t i, k = 0;

	for (i = 0; i < *n; i++)
		if (!is_saved(&list[i]))
			memmove(&list[k++], &list[i], sizeof(list[0]));
	*n = k;
}

int cli_list_fetch(const char *verb, struct godwit_domain_info **list,
		   size_t *n, struct json_object **raw)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	char err[GODWIT_ERROR_MAX];
	struct godwit_conn *c;
	int rc;

	*list = NULL;
	*n = 0;
	if (godwit_open_daemon(&c, err, sizeof(err))) {
		fprintf(stderr, "godwit: %s: %s\n", verb, err);
		return CLI_FAIL;
	}
	rc = godwit_list(c, ROUTE_TIMEOUT_MS, godwit_result_fn, &res);
	if (!rc)
		rc = godwit_result_wait(c, &res);
	godwit_conn_close(c);
	if (!rc)
		rc = godwit_decode_list(res.ret, list, n, res.error,
					sizeof(res.error));
	if (rc) {
		fprintf(stderr, "godwit: %s: %s\n", verb,
			res.error[0] ? res.error : strerror(-rc));
		godwit_result_release(&res);
		return CLI_FAIL;
	}
	if (raw)
		*raw = json_object_get(res.ret);
	godwit_result_release(&res);
	/* Managed saves are list's rows only: no other verb knows them. */
	if (strcmp(verb, "list"))
		drop_saved(*list, n);
	return 0;
}

bool cli_domain_is(const struct godwit_domain_info *d, const char *want)
{
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)d->domid);
	return !strcmp(want, d->name) || !strcmp(want, id) ||
	       !strcasecmp(want, d->uuid);
}

const struct godwit_domain_info *
cli_domain_find(const struct godwit_domain_info *list, size_t n,
		const char *want)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (cli_domain_is(&list[i], want))
			return &list[i];
	return NULL;
}

/*
 * xl's six state flags: running, blocked, paused, shutdown, crashed,
 * dying. An unconfirmed domain (handed over to another host without
 * confirmation) is paused here; its row then ends with the reason, as
 * xl has no flag for it.
 */
const char *cli_state_flags(const char *state)
{
	static const struct {
		const char *state, *flags;
	} map[] = {
		{ "running", "r-----" },  { "paused", "--p---" },
		{ "shutdown", "---s--" }, { "crashed", "---sc-" },
		{ "dying", "-----d" },	  { "unconfirmed", "--p---" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(state, map[i].state))
			return map[i].flags;
	return "------";
}

/* Is d one of want (all when there are none)? */
static bool listed(const struct godwit_domain_info *d, char **want, int nwant)
{
	int i;

	for (i = 0; i < nwant; i++)
		if (cli_domain_is(d, want[i]))
			return true;
	return !nwant;
}

/* "xvda:rw:/srv/a.img,xvdb:ro:/dev/sdb", or "-" without disks. */
static void list_disks(const struct godwit_domain_info *d)
{
	size_t i;

	for (i = 0; i < d->nr_disks && i < ARRAY_SIZE(d->disks); i++)
		printf("%s%s:%s:%s", i ? "," : "", d->disks[i].vdev,
		       d->disks[i].access, d->disks[i].target);
	if (!d->nr_disks)
		printf("-");
}

/* "00:16:3e:56:af:69@br0,00:16:3e:01:02:03", or "-" without vifs. */
static void list_vifs(const struct godwit_domain_info *d)
{
	size_t i;

	for (i = 0; i < d->nr_vifs && i < ARRAY_SIZE(d->vifs); i++)
		printf("%s%s%s%s", i ? "," : "", d->vifs[i].mac,
		       d->vifs[i].bridge[0] ? "@" : "", d->vifs[i].bridge);
	if (!d->nr_vifs)
		printf("-");
}

/*
 * A managed save (godwit managedsave): no id, no flag of xl's; the row
 * says "saved" where virsh list --all would, and why its last restore
 * failed if it did.
 */
static void list_saved(const struct godwit_domain_info *d, bool verbose)
{
	printf("%-40s %5s %5lld %5s     ------  %8s", d->name, "-",
	       (long long)d->memory_mib, "-", "-");
	if (verbose)
		printf("\t%s\tsaved%s%s\t-\t-", d->uuid[0] ? d->uuid : "-",
		       d->reason[0] ? ": " : "", d->reason);
	else
		printf("  saved%s%s", d->reason[0] ? ": " : "", d->reason);
	printf("\n");
}

static void list_print(const struct godwit_domain_info *list, size_t n,
		       bool verbose, char **want, int nwant)
{
	const struct godwit_domain_info *d;
	bool unconfirmed;
	size_t i;

	printf("Name                                        ID   Mem VCPUs\tState\tTime(s)%s\n",
	       verbose ?
		       "\tUUID                                \tReason\tDisks\tVifs" :
		       "");
	for (i = 0; i < n; i++) {
		d = &list[i];
		if (!listed(d, want, nwant))
			continue;
		if (is_saved(d)) {
			list_saved(d, verbose);
			continue;
		}
		printf("%-40s %5lld %5lld %5lld     %s  %8.1f", d->name,
		       (long long)d->domid, (long long)d->memory_mib,
		       (long long)d->vcpus, cli_state_flags(d->state),
		       d->cpu_time_ns / 1e9);
		unconfirmed = !strcmp(d->state, "unconfirmed");
		if (verbose) {
			printf("\t%s\t%s%s\t", d->uuid,
			       unconfirmed ? "unconfirmed: " : "", d->reason);
			list_disks(d);
			printf("\t");
			list_vifs(d);
		} else if (unconfirmed) {
			printf("  unconfirmed: %s", d->reason);
		}
		printf("\n");
	}
}

/* ---- -l: xl's JSON ---- */

static void put_str(struct json_object *o, const char *k, const char *v)
{
	if (v[0])
		json_object_object_add(o, k, json_object_new_string(v));
}

static void put_int(struct json_object *o, const char *k, int64_t v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static struct json_object *xl_b_info(const struct domain_config *cfg)
{
	struct json_object *b = json_object_new_object(), *avail;
	unsigned int i;

	put_int(b, "max_vcpus", cfg->maxvcpus);
	avail = json_object_new_array();
	for (i = 0; i < cfg->vcpus; i++)
		json_object_array_add(avail, json_object_new_int(i));
	json_object_object_add(b, "avail_vcpus", avail);
	put_int(b, "max_memkb", (int64_t)cfg->maxmem_mib << 10);
	put_int(b, "target_memkb", (int64_t)cfg->memory_mib << 10);
	put_str(b, "kernel", cfg->kernel);
	put_str(b, "ramdisk", cfg->ramdisk);
	put_str(b, "cmdline", cfg->cmdline);
	put_str(b, "cpuid", cfg->cpu);
	json_object_object_add(b, "type.pvh", json_object_new_object());
	return b;
}

static struct json_object *xl_devices(const struct domain_config *cfg,
				      bool disks)
{
	struct json_object *a = json_object_new_array(), *o;
	char mac[24];
	unsigned int i;

	for (i = 0; disks && i < cfg->nr_disks; i++) {
		o = json_object_new_object();
		put_str(o, "pdev_path", cfg->disks[i].target);
		put_str(o, "vdev", cfg->disks[i].vdev);
		put_str(o, "format",
			cfg->disks[i].format == DOMAIN_DISK_QCOW2 ? "qcow2" :
								    "raw");
		put_str(o, "script", cfg->disks[i].script);
		put_int(o, "readwrite", !cfg->disks[i].readonly);
		json_object_array_add(a, o);
	}
	for (i = 0; !disks && i < cfg->nr_vifs; i++) {
		o = json_object_new_object();
		domain_config_mac_format(cfg->vifs[i].mac, mac);
		put_int(o, "devid", i);
		put_str(o, "mac", mac);
		put_str(o, "bridge", cfg->vifs[i].bridge);
		put_str(o, "ifname", cfg->vifs[i].vifname);
		json_object_array_add(a, o);
	}
	return a;
}

/* libxl_domain_config's JSON for what godwit has of it. */
static struct json_object *xl_config(const struct domain_config *cfg,
				     const struct godwit_domain_info *d)
{
	struct json_object *c = json_object_new_object(), *ci;

	ci = json_object_new_object();
	put_str(ci, "type", "pvh");
	put_str(ci, "name", d->name);
	put_str(ci, "uuid", d->uuid);
	json_object_object_add(c, "c_info", ci);
	json_object_object_add(c, "b_info", xl_b_info(cfg));
	json_object_object_add(c, "disks", xl_devices(cfg, true));
	json_object_object_add(c, "nics", xl_devices(cfg, false));
	put_str(c, "on_poweroff", domain_config_action_name(cfg->on_poweroff));
	put_str(c, "on_reboot", domain_config_action_name(cfg->on_reboot));
	put_str(c, "on_crash", domain_config_action_name(cfg->on_crash));
	return c;
}

/* The running configuration of d, from its VM's query-config. */
static int vm_config(const struct godwit_domain_info *d,
		     struct domain_config *cfg, char *err, size_t errlen)
{
	struct godwit_result res = GODWIT_RESULT_INIT;
	struct config_diag *diag = malloc(sizeof(*diag));
	struct godwit_conn *c = NULL;
	const char *text = NULL;
	int rc = -ENOMEM;

	if (diag)
		rc = godwit_open_vm(d->qmp, &c, err, errlen);
	if (!rc)
		rc = godwit_vm_config(c, ROUTE_TIMEOUT_MS, godwit_result_fn,
				      &res);
	if (!rc && (rc = godwit_result_wait(c, &res)))
		snprintf(err, errlen, "%s", res.error);
	if (!rc)
		rc = godwit_decode_config(res.ret, &text, err, errlen);
	if (!rc && domain_config_parse(d->name, text, strlen(text), NULL, 0,
				       cfg, diag)) {
		snprintf(err, errlen, "%s", diag->error);
		rc = -EINVAL;
	}
	godwit_result_release(&res);
	godwit_conn_close(c);
	free(diag);
	return rc;
}

/*
 * xl list -l: [{"domid": N, "config": {...}}, ...]. A domain whose VM
 * process does not answer (shut down, kept) has its id and what godwitd
 * knows (c_info) only.
 */
static void list_xl_json(const struct godwit_domain_info *list, size_t n,
			 char **want, int nwant)
{
	struct domain_config *cfg = malloc(sizeof(*cfg));
	struct json_object *a = json_object_new_array(), *o, *c;
	char err[GODWIT_ERROR_MAX];
	size_t i;

	for (i = 0; cfg && i < n; i++) {
		if (!listed(&list[i], want, nwant) || is_saved(&list[i]))
			continue;
		o = json_object_new_object();
		put_int(o, "domid", list[i].domid);
		if (list[i].qmp[0] &&
		    !vm_config(&list[i], cfg, err, sizeof(err)))
			c = xl_config(cfg, &list[i]);
		else
			c = json_object_new_object();
		json_object_object_add(o, "config", c);
		json_object_array_add(a, o);
	}
	printf("%s\n", json_object_to_json_string_ext(
			       a, JSON_C_TO_STRING_PRETTY |
					  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(a);
	free(cfg);
}

static void list_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit list [-l] [-v] [--json] [DOMAIN ...]\n"
		"List godwitd's domains as xl does.\n"
		"  -l, --long     xl's JSON: each domain's id and configuration\n"
		"  -v, --verbose  add each domain's UUID, how it last ended and its disks\n"
		"  --json         print the daemon's JSON\n");
}

/* Each wanted DOMAIN that is not there: one line; how many. */
static int missing(const struct godwit_domain_info *list, size_t n, char **want,
		   int nwant)
{
	int i, any = 0;

	for (i = 0; i < nwant; i++) {
		if (cli_domain_find(list, n, want[i]))
			continue;
		fprintf(stderr, "godwit: list: no domain '%s'\n", want[i]);
		any++;
	}
	return any;
}

int cmd_list(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct godwit_domain_info *list = NULL;
	bool xl_json = false, verbose = false, json = false;
	struct json_object *raw = NULL;
	int opt, nwant, bad;
	size_t n = 0;

	optind = 0;
	while ((opt = getopt_long(argc, argv, "lvh", lo, NULL)) != -1) {
		if (opt == 'l')
			xl_json = true;
		else if (opt == 'v')
			verbose = true;
		else if (opt == 'j')
			json = true;
		else if (opt == 'h')
			return list_usage(stdout), CLI_OK;
		else
			return list_usage(stderr), CLI_USAGE;
	}
	if (cli_list_fetch("list", &list, &n, &raw))
		return CLI_FAIL;
	nwant = argc - optind;
	bad = missing(list, n, argv + optind, nwant);
	if (json)
		printf("%s\n",
		       json_object_to_json_string_ext(
			       raw, JSON_C_TO_STRING_PRETTY |
					    JSON_C_TO_STRING_NOSLASHESCAPE));
	else if (bad && bad == nwant)
		; /* xl: nothing but the error */
	else if (xl_json)
		list_xl_json(list, n, argv + optind, nwant);
	else
		list_print(list, n, verbose, argv + optind, nwant);
	godwit_domain_list_free(list);
	json_object_put(raw);
	return bad ? CLI_FAIL : CLI_OK;
}
