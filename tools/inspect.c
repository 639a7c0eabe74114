/*
 * godwit inspect FILE: print a stream's header and a summary of its
 * records, validating every length, CRC and structure on the way, without
 * building a VM. Exit status 0 if the stream is whole and valid, else 1
 * with one line naming the record and byte offset.
 */
#include "tools/inspect.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/platform.h"
#include "devices/registry.h"
#include "migration/recio.h"
#include "migration/restore.h"
#include "migration/vmstate.h"

#define NR_TYPES (REC_DEVICE + 1)

struct summary {
	uint64_t count[NR_TYPES];
	uint64_t optional;
	uint64_t pages_normal, pages_zero;
	uint64_t rounds;
};

/*
 * What walking a stream needs: state records are collected exactly as
 * restore collects them (duplicates, device states, completeness at
 * END), against the devices every godwit VM has.
 */
struct inspect {
	struct rec_limits lim;
	struct dev_registry devs;
	struct vmstate_rx rx;
	uint8_t *body; /* REC_MAX_LENGTH bytes */
	struct summary sum;
};

static void print_header(const struct stream_header *h, const char *config)
{
	printf("godwit stream, version %u%s\n", h->version,
	       (h->flags & STREAM_F_LIVE) ? " (live migration)" : "");
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

static int read_pages(struct stream *s, const struct rec_hdr *h,
		      struct inspect *in, struct rec_error *err)
{
	const struct rec_page_data *p = (const struct rec_page_data *)in->body;
	uint32_t normal;

	if (rec_read_body(s, h, in->body, err))
		return s->error;
	if (rec_page_data_check(in->body, h->length, h->length, &in->lim,
				&normal, err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	in->sum.pages_normal += normal;
	in->sum.pages_zero += p->count - normal;
	return 0;
}

static int read_other(struct stream *s, const struct rec_hdr *h,
		      struct inspect *in, struct rec_error *err)
{
	int rc;

	if (rec_read_body(s, h, in->body, err))
		return s->error;
	if (rec_body_check(h->type, in->body, h->length, &in->lim, err->why,
			   sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (h->type < NR_TYPES) {
		in->sum.count[h->type]++;
		rc = vmstate_rx_add(&in->rx, &in->devs, h->type, in->body,
				    h->length, err->why, sizeof(err->why));
		if (rc)
			return stream_set_error(s, rc);
	} else {
		in->sum.optional++;
	}
	if (h->type == REC_ROUND)
		in->sum.rounds++;
	return 0;
}

static int walk(struct stream *s, struct inspect *in, struct rec_error *err)
{
	struct rec_hdr rh;

	for (;;) {
		if (rec_read_hdr(s, &rh, err))
			return -EINVAL;
		if (rh.type == REC_END) {
			if (rec_read_body(s, &rh, in->body, err) ||
			    rec_body_check(REC_END, in->body, rh.length,
					   &in->lim, err->why,
					   sizeof(err->why)) ||
			    vmstate_rx_complete(&in->rx, &in->devs, err->why,
						sizeof(err->why)))
				return -EINVAL;
			in->sum.count[REC_END]++;
			return 0;
		}
		if (rh.type == REC_PAGE_DATA) {
			in->sum.count[REC_PAGE_DATA]++;
			if (read_pages(s, &rh, in, err))
				return -EINVAL;
		} else if (read_other(s, &rh, in, err)) {
			return -EINVAL;
		}
	}
}

static void print_summary(const struct summary *sum, uint64_t bytes)
{
	unsigned int t;

	printf("records:\n");
	for (t = 0; t < NR_TYPES; t++)
		if (sum->count[t])
			printf("  %-16s %llu\n", rec_type_name(t),
			       (unsigned long long)sum->count[t]);
	if (sum->optional)
		printf("  %-16s %llu\n", "(optional)",
		       (unsigned long long)sum->optional);
	printf("pages: %llu with data (%llu MiB), %llu zero\n",
	       (unsigned long long)sum->pages_normal,
	       (unsigned long long)(sum->pages_normal * STREAM_PAGE_SIZE >> 20),
	       (unsigned long long)sum->pages_zero);
	if (sum->rounds)
		printf("pre-copy rounds: %llu\n",
		       (unsigned long long)sum->rounds);
	printf("stream: %llu bytes, valid\n", (unsigned long long)bytes);
}

/* The platform devices as a registry, for vmstate_rx; then walk. */
static int inspect_records(struct stream *s, const struct stream_header *h,
			   struct inspect *in, struct rec_error *err)
{
	int rc;

	in->lim = (struct rec_limits){ h->nr_vcpus, h->mem_bytes };
	rc = platform_describe(&in->devs, h->mem_bytes);
	if (rc)
		return rc;
	rc = vmstate_rx_init(&in->rx, h->nr_vcpus);
	return rc ? rc : walk(s, in, err);
}

static int inspect_fd(const char *name, int fd)
{
	struct stream_header h;
	struct inspect in = { 0 };
	struct rec_error err = { 0 };
	struct stream s;
	char *config = NULL, msg[512];
	int rc;

	rc = stream_open_fd(&s, fd, true);
	if (rc)
		return 1;
	in.body = malloc(REC_MAX_LENGTH);
	rc = in.body ? restore_read_header(&s, &h, &config, &err) : -ENOMEM;
	if (!rc) {
		print_header(&h, config);
		rc = inspect_records(&s, &h, &in, &err);
	}
	if (rc) {
		restore_describe(&err, msg, sizeof(msg));
		fprintf(stderr, "godwit: inspect %s: %s\n", name, msg);
	} else {
		print_summary(&in.sum, s.offset);
	}
	stream_close(&s);
	vmstate_rx_free(&in.rx);
	free(config);
	free(in.body);
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
