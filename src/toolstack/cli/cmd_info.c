/*
 * xl's query verbs over godwitd's domain list: domid, domname, uptime,
 * vcpu-list, info and top (xentop's columns; a refreshing table on a
 * terminal, one snapshot otherwise or with -b). Per-vCPU figures come
 * from the VM process's threads (each vCPU thread is named vcpuN), read
 * in /proc as xl reads them from Xen; the host's from uname, sysconf and
 * /proc/meminfo.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <godwit/domain.h>

#include "common/compiler.h"
#include "common/util.h"
#include "toolstack/cli/cli.h"
#include "toolstack/cli/route.h"

/* -h: the usage on stdout, exit 0; any other option: stderr, exit 2. */
static int usage_line(const char *synopsis, const char *opt)
{
	bool help = !strcmp(opt, "-h");

	fprintf(help ? stdout : stderr, "usage: godwit %s\n", synopsis);
	return help ? CLI_OK : CLI_USAGE;
}

/* ---- domid, domname ---- */

static int lookup(int argc, char **argv, bool want_id)
{
	struct godwit_domain_info *list;
	const struct godwit_domain_info *d;
	char id[24];
	size_t n, i;
	int rc = route_dom_argv(argc, argv, NULL);

	if (rc >= 0)
		return rc;
	if (cli_list_fetch(argv[0], &list, &n, NULL))
		return CLI_FAIL;
	d = NULL;
	for (i = 0; i < n && !d; i++) {
		snprintf(id, sizeof(id), "%lld", (long long)list[i].domid);
		if (want_id ? !strcmp(list[i].name, argv[1]) :
			      !strcmp(id, argv[1]))
			d = &list[i];
	}
	if (d && want_id)
		printf("%lld\n", (long long)d->domid);
	else if (d)
		printf("%s\n", d->name);
	else
		fprintf(stderr, "godwit: %s: no domain %s '%s'\n", argv[0],
			want_id ? "named" : "with id", argv[1]);
	godwit_domain_list_free(list);
	return d ? CLI_OK : CLI_FAIL;
}

int cmd_domid(int argc, char **argv)
{
	return lookup(argc, argv, true);
}

int cmd_domname(int argc, char **argv)
{
	return lookup(argc, argv, false);
}

/* ---- uptime ---- */

/* xl's uptime: "1 day, 2:03:04" or " 2:03:04". */
static void print_uptime(int64_t secs)
{
	int64_t days = secs / 86400;

	secs %= 86400;
	if (days)
		printf("%lld day%s, ", (long long)days, days == 1 ? "" : "s");
	printf("%2lld:%02lld:%02lld\n", (long long)(secs / 3600),
	       (long long)(secs / 60 % 60), (long long)(secs % 60));
}

/* Domains of list named by want (all when nwant is 0); -1 if one is not. */
static int check_wanted(const struct godwit_domain_info *list, size_t n,
			char **want, int nwant, const char *verb)
{
	int i, rc = 0;

	for (i = 0; i < nwant; i++) {
		if (cli_domain_find(list, n, want[i]))
			continue;
		fprintf(stderr, "godwit: %s: no domain '%s'\n", verb, want[i]);
		rc = -1;
	}
	return rc;
}

static bool wanted(const struct godwit_domain_info *d, char **want, int nwant)
{
	int i;

	for (i = 0; i < nwant; i++)
		if (cli_domain_is(d, want[i]))
			return true;
	return !nwant;
}

int cmd_uptime(int argc, char **argv)
{
	struct godwit_domain_info *list;
	time_t now = time(NULL);
	size_t n, i;
	int rc;

	if (argc > 1 && argv[1][0] == '-')
		return usage_line("uptime [DOMAIN ...]", argv[1]);
	if (cli_list_fetch("uptime", &list, &n, NULL))
		return CLI_FAIL;
	rc = check_wanted(list, n, argv + 1, argc - 1, "uptime");
	printf("Name                                ID Uptime\n");
	for (i = 0; i < n; i++) {
		if (!wanted(&list[i], argv + 1, argc - 1))
			continue;
		printf("%-33s %4lld ", list[i].name, (long long)list[i].domid);
		print_uptime(list[i].created && now > list[i].created ?
				     now - list[i].created :
				     0);
	}
	godwit_domain_list_free(list);
	return rc ? CLI_FAIL : CLI_OK;
}

/* ---- vcpu-list ---- */

/* One vCPU thread of a VM process, as /proc has it. */
struct vcpu_stat {
	unsigned int index;
	char state; /* R running, S sleeping, ... */
	int cpu; /* the host CPU it ran on last */
	double secs; /* user + system time */
	char affinity[64]; /* "all" or a list of CPUs */
};

static int read_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	return 0;
}

/* A CPU set as xl writes it: "all", or "0-3,6". */
static void cpuset_text(const cpu_set_t *set, char *out, size_t len)
{
	size_t n = 0;
	int c, end, cpus = CPU_COUNT(set);

	if (cpus >= sysconf(_SC_NPROCESSORS_ONLN)) {
		snprintf(out, len, "all");
		return;
	}
	out[0] = 0;
	for (c = 0; c < CPU_SETSIZE && n < len; c++) {
		if (!CPU_ISSET(c, set))
			continue;
		for (end = c; end + 1 < CPU_SETSIZE && CPU_ISSET(end + 1, set);)
			end++;
		n += snprintf(out + n, len - n, end > c ? "%s%d-%d" : "%s%d",
			      n ? "," : "", c, end);
		c = end;
	}
}

/* /proc/PID/task/TID: false unless it is a vCPU thread (vcpuN). */
static bool vcpu_read(long pid, const char *tid, struct vcpu_stat *v)
{
	char path[96], buf[1024], *p;
	unsigned long long ut, st;
	cpu_set_t set;
	int cpu;

	snprintf(path, sizeof(path), "/proc/%ld/task/%s/comm", pid, tid);
	if (read_text(path, buf, sizeof(buf)) ||
	    sscanf(buf, "vcpu%u", &v->index) != 1)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/task/%s/stat", pid, tid);
	if (read_text(path, buf, sizeof(buf)) || !(p = strrchr(buf, ')')))
		return false;
	/* After "(comm)": state is field 3, utime 14, stime 15, CPU 39. */
	if (sscanf(p + 1,
		   " %c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu"
		   " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
		   " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %d",
		   &v->state, &ut, &st, &cpu) != 4)
		return false;
	v->cpu = cpu;
	v->secs = (double)(ut + st) / sysconf(_SC_CLK_TCK);
	if (sched_getaffinity(atoi(tid), sizeof(set), &set))
		snprintf(v->affinity, sizeof(v->affinity), "?");
	else
		cpuset_text(&set, v->affinity, sizeof(v->affinity));
	return true;
}

static int vcpu_cmp(const void *a, const void *b)
{
	const struct vcpu_stat *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

/* The vCPU threads of process pid, in vCPU order; the count. */
static size_t vcpus_of(long pid, struct vcpu_stat *out, size_t max)
{
	char path[64];
	struct dirent *e;
	size_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	dir = opendir(path);
	while (dir && n < max && (e = readdir(dir)))
		if (e->d_name[0] != '.' && vcpu_read(pid, e->d_name, &out[n]))
			n++;
	if (dir)
		closedir(dir);
	qsort(out, n, sizeof(*out), vcpu_cmp);
	return n;
}

/* xl's vCPU state: r-- running, -b- blocked, --p paused. */
static const char *vcpu_state(const struct godwit_domain_info *d,
			      const struct vcpu_stat *v)
{
	if (strcmp(d->state, "running"))
		return "--p";
	return v->state == 'R' ? "r--" : "-b-";
}

static void vcpu_rows(const struct godwit_domain_info *d)
{
	struct vcpu_stat v[256];
	char cpu[16];
	size_t n, i;

	n = d->pid > 0 ? vcpus_of(d->pid, v, ARRAY_SIZE(v)) : 0;
	for (i = 0; i < n; i++) {
		snprintf(cpu, sizeof(cpu), "%d", v[i].cpu);
		printf("%-32s %5lld %5u %5s   %s %9.1f  %s / all\n", d->name,
		       (long long)d->domid, v[i].index,
		       strcmp(d->state, "running") ? "-" : cpu,
		       vcpu_state(d, &v[i]), v[i].secs, v[i].affinity);
	}
}

int cmd_vcpu_list(int argc, char **argv)
{
	struct godwit_domain_info *list;
	size_t n, i;
	int rc;

	if (argc > 1 && argv[1][0] == '-')
		return usage_line("vcpu-list [DOMAIN ...]", argv[1]);
	if (cli_list_fetch("vcpu-list", &list, &n, NULL))
		return CLI_FAIL;
	rc = check_wanted(list, n, argv + 1, argc - 1, "vcpu-list");
	printf("Name                                ID  VCPU   CPU State   Time(s) Affinity (Hard / Soft)\n");
	for (i = 0; i < n; i++)
		if (wanted(&list[i], argv + 1, argc - 1))
			vcpu_rows(&list[i]);
	godwit_domain_list_free(list);
	return rc ? CLI_FAIL : CLI_OK;
}

/* ---- info ---- */

/* A /proc/meminfo line's value in KiB, or 0. */
static uint64_t meminfo_kib(const char *key)
{
	char buf[4096], *p;
	unsigned long long v = 0;

	if (read_text("/proc/meminfo", buf, sizeof(buf)))
		return 0;
	p = strstr(buf, key);
	if (p && sscanf(p + strlen(key), ": %llu", &v) != 1)
		v = 0;
	return v;
}

static void info_line(const char *key, const char *fmt, ...) __printf(2, 3);

static void info_line(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-23s: ", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The domains godwitd runs, and their memory, if it answers. */
static void info_domains(void)
{
	struct godwit_domain_info *list;
	uint64_t mib = 0;
	size_t n, i, live = 0;

	if (cli_list_fetch("info", &list, &n, NULL)) {
		info_line("godwitd", "not answering");
		return;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(list[i].state, "running") &&
		    strcmp(list[i].state, "paused"))
			continue;
		live++;
		mib += list[i].memory_mib;
	}
	info_line("nr_domains", "%zu", n);
	info_line("nr_live_domains", "%zu", live);
	info_line("domains_memory", "%llu", (unsigned long long)mib);
	godwit_domain_list_free(list);
}

int cmd_info(int argc, char **argv)
{
	struct utsname u;

	if (argc > 1)
		return usage_line("info", argv[1]);
	if (uname(&u)) {
		fprintf(stderr, "godwit: info: uname: %s\n", strerror(errno));
		return CLI_FAIL;
	}
	info_line("host", "%s", u.nodename);
	info_line("release", "%s", u.release);
	info_line("version", "%s", u.version);
	info_line("machine", "%s", u.machine);
	info_line("nr_cpus", "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	info_line("total_memory", "%llu",
		  (unsigned long long)(meminfo_kib("MemTotal") >> 10));
	info_line("free_memory", "%llu",
		  (unsigned long long)(meminfo_kib("MemAvailable") >> 10));
	info_line("kvm", "%s",
		  access("/dev/kvm", R_OK | W_OK) ? "not usable (/dev/kvm)" :
						    "/dev/kvm");
	info_line("godwit_version", "%s", GODWIT_VERSION);
	info_domains();
	return CLI_OK;
}

/* ---- top ---- */

struct top_opts {
	bool batch;
	double delay; /* seconds between samples */
	long iterations; /* 0: until interrupted */
};

static void top_usage(FILE *f)
{
	fprintf(f,
		"usage: godwit top [-b] [-d SECONDS] [-i N]\n"
		"godwitd's domains with their CPU and memory use, as xentop shows them:\n"
		"a table redrawn every SECONDS (default 1) on a terminal until ^C, one\n"
		"snapshot otherwise.\n"
		"  -b   batch: plain tables, one per sample (one unless -i)\n"
		"  -d   seconds between samples\n"
		"  -i   this many samples, then exit\n");
}

static int top_parse(int argc, char **argv, struct top_opts *o)
{
	char *end;
	int opt;

	*o = (struct top_opts){ .delay = 1.0 };
	optind = 1;
	while ((opt = getopt(argc, argv, "+bd:i:h")) != -1) {
		if (opt == 'b') {
			o->batch = true;
		} else if (opt == 'd') {
			o->delay = strtod(optarg, &end);
			if (*end || !(o->delay >= 0.1 && o->delay <= 3600))
				return top_usage(stderr), CLI_USAGE;
		} else if (opt == 'i') {
			o->iterations = strtol(optarg, &end, 10);
			if (*end || o->iterations < 1)
				return top_usage(stderr), CLI_USAGE;
		} else if (opt == 'h') {
			return top_usage(stdout), CLI_OK;
		} else {
			return top_usage(stderr), CLI_USAGE;
		}
	}
	if (optind != argc)
		return top_usage(stderr), CLI_USAGE;
	if (!o->iterations && (o->batch || !isatty(STDOUT_FILENO)))
		o->iterations = 1;
	return -1;
}

/* d's CPU time in the previous sample, or -1. */
static int64_t prev_cpu(const struct godwit_domain_info *prev, size_t n,
			const struct godwit_domain_info *d)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (prev[i].domid == d->domid && !strcmp(prev[i].name, d->name))
			return prev[i].cpu_time_ns;
	return -1;
}

static void top_table(const struct godwit_domain_info *prev, size_t np,
		      const struct godwit_domain_info *cur, size_t n,
		      double wall_ns)
{
	double host_kib = meminfo_kib("MemTotal"), pct;
	int64_t before, mem;
	size_t i;

	printf("      NAME  STATE   CPU(sec) CPU(%%)     MEM(k) MEM(%%)  MAXMEM(k) MAXMEM(%%) VCPUS\n");
	for (i = 0; i < n; i++) {
		before = prev_cpu(prev, np, &cur[i]);
		pct = before >= 0 && wall_ns > 0 ?
			      (cur[i].cpu_time_ns - before) * 100.0 / wall_ns :
			      0;
		mem = cur[i].memory_mib << 10;
		printf("%10.10s %6s %10.0f %6.1f %10lld %6.1f %10lld %9.1f %5lld\n",
		       cur[i].name, cli_state_flags(cur[i].state),
		       cur[i].cpu_time_ns / 1e9, pct < 0 ? 0 : pct,
		       (long long)mem, host_kib ? mem * 100.0 / host_kib : 0,
		       (long long)mem, host_kib ? mem * 100.0 / host_kib : 0,
		       (long long)cur[i].vcpus);
	}
	fflush(stdout);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + t.tv_nsec;
}

int cmd_top(int argc, char **argv)
{
	struct godwit_domain_info *prev = NULL, *cur = NULL;
	struct timespec pause;
	struct top_opts o;
	size_t np = 0, n = 0;
	uint64_t t0, t1;
	long i;
	int rc;

	rc = top_parse(argc, argv, &o);
	if (rc >= 0)
		return rc;
	pause.tv_sec = (time_t)o.delay;
	pause.tv_nsec = (long)((o.delay - (double)pause.tv_sec) * 1e9);
	if (cli_list_fetch("top", &prev, &np, NULL))
		return CLI_FAIL;
	t0 = now_ns();
	for (i = 0; !o.iterations || i < o.iterations; i++) {
		nanosleep(&pause, NULL);
		if (cli_list_fetch("top", &cur, &n, NULL)) {
			rc = CLI_FAIL;
			break;
		}
		t1 = now_ns();
		if (!o.batch && isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		top_table(prev, np, cur, n, (double)(t1 - t0));
		godwit_domain_list_free(prev);
		prev = cur;
		np = n;
		cur = NULL;
		t0 = t1;
		rc = CLI_OK;
	}
	godwit_domain_list_free(prev);
	return rc;
}
