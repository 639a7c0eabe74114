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

#include "devices/registry.h"
#include "migration/recio.h"
#include "migration/restore.h"

#define NR_TYPES (REC_DEVICE + 1)

struct summary {
	uint64_t count[NR_TYPES];
	bool have_dev[DEVREG_MAX];
	uint64_t optional;
	uint64_t pages_normal, pages_zero;
	uint32_t *vcpu_have; /* per vCPU: bits of (1 << type) */
	uint64_t rounds;
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

static uint8_t *body_buf;

static int read_pages(struct stream *s, const struct rec_hdr *h,
		      const struct rec_limits *lim, struct summary *sum,
		      struct rec_error *err)
{
	uint32_t normal, crc = rec_crc_start(h->type, h->length);
	uint64_t count;

	if (rec_read_body(s, h, body_buf, err))
		return s->error;
	if (rec_page_data_check(body_buf, h->length, h->length, lim, &normal,
				err->why, sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	(void)crc;
	memcpy(&count, body_buf, 4);
	count &= 0xffffffff;
	sum->pages_normal += normal;
	sum->pages_zero += count - normal;
	return 0;
}

static int check_vcpu_dup(struct summary *sum, uint32_t type, const void *body,
			  struct rec_error *err)
{
	const struct rec_vcpu_hdr *v = body;

	if (sum->vcpu_have[v->vcpu] & (1u << type)) {
		snprintf(err->why, sizeof(err->why),
			 "second %s record for vCPU %u", rec_type_name(type),
			 v->vcpu);
		return -EINVAL;
	}
	sum->vcpu_have[v->vcpu] |= 1u << type;
	return 0;
}

/* Devices are those every godwit VM has; check their states offline. */
static int check_device(const struct rec_device *d, struct summary *sum,
			struct rec_error *err)
{
	char why[160];
	unsigned int i;

	for (i = 0; i < devreg_platform_count; i++) {
		const struct dev_entry *e = &devreg_platform[i];

		if (strncmp(e->id, d->id, DEVICE_ID_LEN))
			continue;
		if (sum->have_dev[i]) {
			snprintf(err->why, sizeof(err->why),
				 "second DEVICE record for '%s'", d->id);
			return -EINVAL;
		}
		sum->have_dev[i] = true;
		if (d->version != e->version || d->length != e->state_size) {
			snprintf(
				err->why, sizeof(err->why),
				"device '%s' state version %u (%u bytes) is not supported",
				d->id, d->version, d->length);
			return -EINVAL;
		}
		if (e->check(d->state, why, sizeof(why))) {
			snprintf(err->why, sizeof(err->why), "device '%s': %s",
				 d->id, why);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err->why, sizeof(err->why),
		 "device '%s' does not exist in a godwit VM", d->id);
	return -EINVAL;
}

static int read_other(struct stream *s, const struct rec_hdr *h,
		      const struct rec_limits *lim, struct summary *sum,
		      struct rec_error *err)
{
	if (rec_read_body(s, h, body_buf, err))
		return s->error;
	if (rec_body_check(h->type, body_buf, h->length, lim, err->why,
			   sizeof(err->why)))
		return stream_set_error(s, -EINVAL);
	if (h->type >= REC_VCPU_REGS && h->type <= REC_VCPU_DEBUGREGS &&
	    check_vcpu_dup(sum, h->type, body_buf, err))
		return stream_set_error(s, -EINVAL);
	if (h->type == REC_DEVICE &&
	    check_device((const struct rec_device *)body_buf, sum, err))
		return stream_set_error(s, -EINVAL);
	if (h->type < NR_TYPES)
		sum->count[h->type]++;
	else
		sum->optional++;
	if (h->type == REC_ROUND)
		sum->rounds++;
	return 0;
}

static int check_complete(const struct stream_header *h,
			  const struct summary *sum, struct rec_error *err)
{
	const uint32_t need =
		0x7fc; /* bits REC_VCPU_REGS..REC_VCPU_DEBUGREGS */
	uint32_t i;

	for (i = 0; i < h->nr_vcpus; i++)
		if ((sum->vcpu_have[i] & need) != need) {
			snprintf(err->why, sizeof(err->why),
				 "no %s record for vCPU %u",
				 rec_type_name(__builtin_ctz(
					 need & ~sum->vcpu_have[i])),
				 i);
			return -EINVAL;
		}
	if (sum->count[REC_IRQCHIP] != IRQCHIP_COUNT ||
	    sum->count[REC_PIT] != 1 || sum->count[REC_CLOCK] != 1) {
		snprintf(
			err->why, sizeof(err->why),
			"expected 3 IRQCHIP, 1 PIT and 1 CLOCK records, found %llu, %llu and %llu",
			(unsigned long long)sum->count[REC_IRQCHIP],
			(unsigned long long)sum->count[REC_PIT],
			(unsigned long long)sum->count[REC_CLOCK]);
		return -EINVAL;
	}
	for (i = 0; i < devreg_platform_count; i++)
		if (!sum->have_dev[i] && !devreg_platform[i].may_be_absent) {
			snprintf(err->why, sizeof(err->why),
				 "no DEVICE record for '%s'",
				 devreg_platform[i].id);
			return -EINVAL;
		}
	return 0;
}

static int walk(struct stream *s, const struct stream_header *h,
		struct summary *sum, struct rec_error *err)
{
	struct rec_limits lim = { h->nr_vcpus, h->mem_bytes };
	struct rec_hdr rh;

	for (;;) {
		if (rec_read_hdr(s, &rh, err))
			return -EINVAL;
		if (rh.type == REC_END) {
			if (rec_read_body(s, &rh, body_buf, err) ||
			    rec_body_check(REC_END, body_buf, rh.length, &lim,
					   err->why, sizeof(err->why)))
				return -EINVAL;
			sum->count[REC_END]++;
			return check_complete(h, sum, err);
		}
		if (rh.type == REC_PAGE_DATA) {
			sum->count[REC_PAGE_DATA]++;
			if (read_pages(s, &rh, &lim, sum, err))
				return -EINVAL;
		} else if (read_other(s, &rh, &lim, sum, err)) {
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
	       (unsigned long long)(sum->pages_normal * 4096 >> 20),
	       (unsigned long long)sum->pages_zero);
	if (sum->rounds)
		printf("pre-copy rounds: %llu\n",
		       (unsigned long long)sum->rounds);
	printf("stream: %llu bytes, valid\n", (unsigned long long)bytes);
}

static int inspect_fd(const char *name, int fd)
{
	struct stream_header h;
	struct summary sum = { 0 };
	struct rec_error err = { 0 };
	struct stream s;
	char *config = NULL, msg[512];
	int rc;

	rc = stream_open_fd(&s, fd, true);
	if (rc)
		return 1;
	body_buf = malloc(REC_MAX_LENGTH);
	rc = body_buf ? restore_read_header(&s, &h, &config, &err) : -ENOMEM;
	if (!rc) {
		print_header(&h, config);
		sum.vcpu_have = calloc(h.nr_vcpus, sizeof(uint32_t));
		rc = sum.vcpu_have ? walk(&s, &h, &sum, &err) : -ENOMEM;
	}
	if (rc) {
		restore_describe(&err, msg, sizeof(msg));
		fprintf(stderr, "godwit: inspect %s: %s\n", name, msg);
	} else {
		print_summary(&sum, s.offset);
	}
	stream_close(&s);
	free(sum.vcpu_have);
	free(config);
	free(body_buf);
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
