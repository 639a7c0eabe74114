/*
 * disk-create: make a qcow2 image for a VM's disk, empty or as an
 * overlay on a backing file (raw or qcow2), as `qemu-img create -f
 * qcow2` does. The backing file's format is recorded in the image
 * (probed here when not given), so godwit never guesses it at run time.
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage/disk.h"
#include "toolstack/cli/cmd_disk.h"

static void create_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit disk-create [-b FILE [-F raw|qcow2]] [-c SIZE] FILE [SIZE]\n"
		"Create the qcow2 image FILE of SIZE bytes (K, M, G, T: powers of 1024).\n"
		"  -b, --backing FILE         writes go to FILE's overlay, reads fall\n"
		"                             through to FILE (SIZE defaults to its size)\n"
		"  -F, --backing-format FMT   raw or qcow2 (default: probed from FILE)\n"
		"  -c, --cluster-size SIZE    512 to 2M, a power of 2 (default 64K)\n");
}

/* Bytes, or a number with K, M, G or T (qemu-img's convention). */
static int parse_bytes(const char *s, uint64_t *out)
{
	static const char units[] = "kmgt";
	const char *u;
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (!s[0] || s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoull(s, &end, 10);
	if (*end && (u = strchr(units, *end | 0x20))) {
		mul <<= 10 * (u - units + 1);
		end++;
		if (*end == 'B' || !strcmp(end, "iB"))
			end += *end == 'B' ? 1 : 2;
	}
	if (*end || !v || v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_format(const char *s, struct disk_create_args *a)
{
	a->backing_format_given = true;
	if (!strcmp(s, "raw"))
		a->backing_format = DISK_FORMAT_RAW;
	else if (!strcmp(s, "qcow2"))
		a->backing_format = DISK_FORMAT_QCOW2;
	else
		return -1;
	return 0;
}

static int parse_opts(int argc, char **argv, struct disk_create_args *a)
{
	static const struct option lo[] = {
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "cluster-size", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t cs;
	int c;

	while ((c = getopt_long(argc, argv, "+b:F:c:h", lo, NULL)) != -1) {
		if (c == 'h') {
			create_usage(stdout);
			exit(0);
		} else if (c == 'b') {
			a->backing = optarg;
		} else if (c == 'F' && parse_format(optarg, a)) {
			fprintf(stderr,
				"godwit disk-create: backing format %s: expected raw or qcow2\n",
				optarg);
			return -1;
		} else if (c == 'c' &&
			   (parse_bytes(optarg, &cs) || cs > (2u << 20))) {
			fprintf(stderr,
				"godwit disk-create: cluster size %s: expected 512 to 2M\n",
				optarg);
			return -1;
		} else if (c == 'c') {
			a->cluster_size = cs;
		} else if (c != 'F') {
			create_usage(stderr);
			return -1;
		}
	}
	return 0;
}

int cmd_disk_create(int argc, char **argv)
{
	struct disk_create_args a = { 0 };
	char why[DISK_WHY_MAX];

	if (parse_opts(argc, argv, &a))
		exit(2);
	if (argc - optind < 1 || argc - optind > 2 ||
	    (argc - optind == 1 && !a.backing)) {
		create_usage(stderr);
		exit(2);
	}
	a.path = argv[optind];
	if (argc - optind == 2 &&
	    (parse_bytes(argv[optind + 1], &a.size) || a.size % 512)) {
		fprintf(stderr,
			"godwit disk-create: size %s: expected bytes (K, M, G, T suffixes), a multiple of 512\n",
			argv[optind + 1]);
		exit(2);
	}
	if (a.backing_format_given && !a.backing) {
		fprintf(stderr,
			"godwit disk-create: --backing-format needs --backing\n");
		exit(2);
	}
	if (disk_create(&a, why, sizeof(why))) {
		fprintf(stderr, "godwit disk-create: %s\n", why);
		return 1;
	}
	return 0;
}
