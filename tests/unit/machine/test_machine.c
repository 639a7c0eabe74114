/*
 * Unit tests of machine_build(): the devices a domain configuration adds
 * to the platform, in the order and slots the stream format promises
 * (disk i at virtio slot 1 + i, named by its vdev; then vif i, named
 * "vif-<i>"), with the arguments
 * their models take, the same whether the disks are open (the VMM) or
 * not (godwit inspect); and the refusals, in one line.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "machine/machine.h"

static struct domain_config *parse(const char *text)
{
	static struct domain_config cfg;
	struct config_diag diag;

	if (domain_config_parse("vm.cfg", text, strlen(text), NULL, 0, &cfg,
				&diag))
		fail_msg("%s", diag.error);
	return &cfg;
}

static const char two_disks[] =
	"name = 'vm'\nmemory = 64\nvcpus = 3\n"
	"disk = [ 'size=1M, /tmp/a.img,raw,xvda,rw', "
	"'vdev=xvdb, access=ro, no-discard, size=2M, target=/tmp/b.img' ]\n";

/* Described (godwit inspect): from the configuration alone. */
static void test_disks_described(void **state)
{
	struct machine *mc = calloc(1, sizeof(*mc));
	struct dev_registry r = { .nr = 0 };
	const struct virtio_blk_conf *c;
	char why[200];

	assert_int_equal(
		machine_build(mc, parse(two_disks), NULL, why, sizeof(why)), 0);
	assert_int_equal(mc->pc.mem_bytes, 64 * MIB);
	assert_int_equal(mc->pc.nr, 2);
	assert_string_equal(mc->pc.devs[0].id, "xvda");
	assert_string_equal(mc->pc.devs[1].id, "xvdb");
	assert_ptr_equal(mc->pc.devs[1].type, &virtio_blk_type);
	assert_true(mc->pc.devs[0].may_be_absent);
	c = mc->pc.devs[1].arg;
	assert_ptr_equal(c, &mc->blk[1]);
	assert_null(c->disk);
	assert_int_equal(c->size, 2 * MIB);
	assert_true(c->readonly);
	assert_false(c->discard);
	assert_int_equal(c->num_queues, 3);
	assert_string_equal(c->serial, "xvdb");
	assert_true(mc->blk[0].discard);
	assert_false(mc->blk[0].readonly);
	/* What restore and inspect expect: after the platform's devices. */
	assert_int_equal(platform_describe_conf(&r, &mc->pc, why, sizeof(why)),
			 0);
	assert_int_equal(r.nr, 5);
	assert_string_equal(r.devs[3].id, "xvda");
	assert_int_equal(r.devs[3].res.mmio_base, LAYOUT_VIRTIO_MMIO + 0x1000);
	assert_string_equal(r.devs[4].id, "xvdb");
	assert_int_equal(r.devs[4].res.gsi, LAYOUT_VIRTIO_GSI(2));
	assert_ptr_equal(devreg_env(&r, &r.devs[4]).arg, &mc->blk[1]);
	free(mc);
}

/* The VMM: the opened disks, their size; a queue per vCPU up to 8. */
static void test_disks_opened(void **state)
{
	struct machine *mc = calloc(1, sizeof(*mc));
	struct machine_backends be = { { 0 }, { 0 } };
	struct domain_config *cfg;
	char path[] = "/tmp/godwit-machine-XXXXXX", text[512], why[512];
	const struct disk_open_args a = { .path = path, .label = "xvda" };
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 3 * MIB), 0);
	snprintf(text, sizeof(text),
		 "name = 'vm'\nvcpus = 12\ndisk = [ '%s,raw,xvda' ]\n", path);
	cfg = parse(text);
	if (disk_open(&a, &be.disk[0], why, sizeof(why)))
		fail_msg("%s", why);
	assert_int_equal(machine_build(mc, cfg, &be, why, sizeof(why)), 0);
	assert_ptr_equal(mc->blk[0].disk, be.disk[0]);
	assert_int_equal(mc->blk[0].size, 3 * MIB);
	assert_int_equal(mc->blk[0].num_queues, VIRTIO_QUEUES_MAX);
	disk_close(be.disk[0]);
	close(fd);
	unlink(path);
	free(mc);
}

/* NICs: after the disks, "vif-<i>", the configured MAC and rate. */
static void test_nics_after_disks(void **state)
{
	struct machine *mc = calloc(1, sizeof(*mc));
	struct machine_backends be = { { 0 }, { 0 } };
	struct dev_registry r = { .nr = 0 };
	struct domain_config *cfg;
	char why[200];

	cfg = parse("name = 'vm'\ndisk = [ 'size=1M, /tmp/a.img,raw,xvda' ]\n"
		    "vif = [ 'mac=00:16:3e:00:00:07, bridge=br0', "
		    "'mac=00:16:3e:00:00:08, rate=1MB/s@20ms' ]\n");
	assert_int_equal(machine_build(mc, cfg, NULL, why, sizeof(why)), 0);
	assert_int_equal(mc->pc.nr, 3);
	assert_string_equal(mc->pc.devs[1].id, "vif-0");
	assert_string_equal(mc->pc.devs[2].id, "vif-1");
	assert_ptr_equal(mc->pc.devs[2].type, &virtio_net_type);
	assert_true(mc->pc.devs[2].may_be_absent);
	assert_ptr_equal(mc->pc.devs[2].arg, &mc->net[1]);
	assert_memory_equal(mc->net[1].mac, "\x00\x16\x3e\x00\x00\x08", 6);
	assert_int_equal(mc->net[1].rate_bytes_per_s, 1000000);
	assert_int_equal(mc->net[1].rate_interval_us, 20000);
	assert_int_equal(mc->net[0].rate_bytes_per_s, 0);
	assert_int_equal(mc->net[0].tap_fd, -1); /* described: no tap */
	assert_int_equal(platform_describe_conf(&r, &mc->pc, why, sizeof(why)),
			 0);
	assert_string_equal(r.devs[4].id, "vif-0");
	assert_int_equal(r.devs[4].res.mmio_base, LAYOUT_VIRTIO_MMIO + 0x2000);
	assert_int_equal(r.devs[5].res.gsi, LAYOUT_VIRTIO_GSI(3));
	/* The VMM: the taps it opened. */
	be.tap_fd[0] = 7;
	be.tap_fd[1] = 9;
	assert_int_equal(machine_build(mc, cfg, &be, why, sizeof(why)), 0);
	assert_int_equal(mc->net[0].tap_fd, 7);
	assert_int_equal(mc->net[1].tap_fd, 9);
	free(mc);
}

/* A vdev that is a platform device's id: one line saying so. */
static void test_vdev_clash(void **state)
{
	struct machine *mc = calloc(1, sizeof(*mc));
	char why[200];

	assert_int_equal(machine_build(mc,
				       parse("name = 'vm'\ndisk = [ "
					     "'/tmp/a,raw,console0' ]\n"),
				       NULL, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(
		why,
		"disk console0: vdev console0 is the name of a platform device: choose another vdev");
	free(mc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disks_described),
		cmocka_unit_test(test_disks_opened),
		cmocka_unit_test(test_nics_after_disks),
		cmocka_unit_test(test_vdev_clash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
