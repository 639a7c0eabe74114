/*
 * godwit inspect FILE: print a stream's header and a summary of its
 * records, validating it on the way without building a VM. It runs
 * restore's own checks (the same functions): the header, the domain
 * config parsed as restore parses it and matched against the header,
 * and every record through restore's reader. So it exits 0 exactly for
 * the streams restore accepts, except for what only the restoring host
 * can judge: its CPU (vendor and feature digest) and whether its KVM
 * takes the saved state. Else exit 1 with one line naming the record and
 * byte offset.
 */
#include "tools/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/domain_config.h"
#include "devices/platform.h"
#include "devices/registry.h"
#include "machine/machine.h"
#include "migration/recio.h"
#include "migration/restore.h"

static void print_header(const struct stream_header *h, const char *config)
{
	unsigned int i;

	printf("godwit stream, version %u%s\n", h->version,
	       (h->flags & STREAM_F_LIVE) ? " (live migration)" : "");
	if (h->version >= 2) {
		printf("  stream id    ");
		for (i = 0; i < STREAM_ID_LEN; i++)
			printf("%02x", h->stream_id[i]);
		printf("\n");
	}
	printf("  memory       %llu MiB\n",
	       (unsigned long long)(h->mem_bytes >> 20));
	printf("  vcpus        %u\n", h->nr_vcpus);
	printf("  cpu          %.12s, feature digest 0x%08x\n", h->cpu_vendor,
	       h->cpuid_digest);
	printf("  config       %u bytes:\n", h->config_len);
	for (const char *p = config; *p;) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		printf("    | %.*s\n", n, p);
		p += n + (nl ? 1 : 0);
	}
}

static void print_summary(const struct restore_result *res, uint64_t bytes)
{
	unsigned int t;

	printf("records:\n");
	for (t = 0; t < RESTORE_NR_TYPES; t++)
		if (res->count[t])
			printf("  %-16s %llu\n", rec_type_name(t),
			       (unsigned long long)res->count[t]);
	if (res->optional)
		printf("  %-16s %llu\n", "(optional)",
		       (unsigned long long)res->optional);
	printf("pages: %llu with data (%llu MiB), %llu zero\n",
	       (unsigned long long)res->pages_data,
	       (unsigned long long)(res->pages_data * STREAM_PAGE_SIZE >> 20),
	       (unsigned long long)(res->pages - res->pages_data));
	if (res->rounds)
		printf("pre-copy rounds: %llu\n",
		       (unsigned long long)res->rounds);
	printf("stream: %llu bytes, valid\n", (unsigned long long)bytes);
}

/*
 * The config restore would build the VM from: it must parse, and
 * describe the machine the header does.
 */
static int check_config(const char *name, const struct stream_header *h,
			const char *config, struct domain_config *cfg,
			struct rec_error *err)
{
	struct config_diag diag;

	err->offset = h->header_size;
	err->type = REC_ERR_STREAM_HEADER;
	if (domain_config_parse(name, config, h->config_len, NULL, 0, cfg,
				&diag)) {
		snprintf(err->why, sizeof(err->why),
			 "domain config in the stream header: %s", diag.error);
		return -EINVAL;
	}
	err->offset = 0;
	return restore_check_machine(h, cfg->memory_mib * MIB, cfg->vcpus,
				     err->why, sizeof(err->why));
}

/*
 * The devices restore would build from that config (machine.h), with
 * nothing opened: the DEVICE records the stream must carry.
 */
static int describe_devices(const struct domain_config *cfg, struct machine *mc,
			    struct dev_registry *devs, struct rec_error *err)
{
	char why[sizeof(err->why) - 40];
	int rc;

	rc = machine_build(mc, cfg, NULL, why, sizeof(why));
	if (!rc)
		rc = platform_describe_conf(devs, &mc->pc, why, sizeof(why));
	if (rc)
		snprintf(err->why, sizeof(err->why),
			 "domain config in the stream header: %s", why);
	return rc;
}

static int inspect_stream(const char *name, struct stream *s,
			  struct restore_result *res, struct rec_error *err)
{
	struct stream_header h;
	struct dev_registry devs = { 0 };
	struct domain_config *cfg = malloc(sizeof(*cfg));
	struct machine *mc = malloc(sizeof(*mc));
	char *config = NULL;
	int rc = cfg && mc ? 0 : -ENOMEM;

	if (!rc)
		rc = restore_read_header(s, &h, &config, err);
	if (rc)
		goto out;
	print_header(&h, config);
	rc = check_config(name, &h, config, cfg, err);
	if (!rc)
		rc = describe_devices(cfg, mc, &devs, err);
	if (!rc)
		rc = restore_check_stream(s, &h, &devs, res, err);
out:
	free(config);
	free(mc);
	free(cfg);
	return rc;
}

static int inspect_fd(const char *name, int fd)
{
	struct restore_result res;
	struct rec_error err = { 0 };
	struct stream s;
	char msg[512];
	int rc;

	rc = stream_open_fd(&s, fd, true);
	if (rc) {
		close(fd);
		fprintf(stderr, "godwit: inspect %s: %s\n", name,
			strerror(-rc));
		return 1;
	}
	rc = inspect_stream(name, &s, &res, &err);
	if (rc) {
		restore_describe(&err, msg, sizeof(msg));
		fprintf(stderr, "godwit: inspect %s: %s\n", name, msg);
	} else {
		print_summary(&res, s.offset);
	}
	stream_close(&s);
	return rc ? 1 : 0;
}

int inspect_main(int argc, char **argv)
{
	int fd;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: godwit inspect FILE\n");
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: godwit inspect FILE\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "godwit: inspect %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	return inspect_fd(argv[1], fd);
}
