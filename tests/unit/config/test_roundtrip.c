/*
 * Canonical text: format -> parse gives an equal struct (and the same
 * text again) for many configs, including quotes, escapes and odd bytes
 * in strings; the exact canonical layout; buffer bounds; equality; and
 * loading from a file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "helpers.h"

static const char *const configs[] = {
	"name = 'vm'\n",
	"name = 'vm'\nuuid = '6f9619ff-8b86-d011-b42d-00c04fc964ff'\n",
	"name='a'\nmemory=4096\nmaxmem=8192\nvcpus=8\nmaxvcpus=16\n"
	"cpu='x86-64-v2'\n",
	"name='cr'\ncmdline=\"a\\rb\\r\"\n",
	"name='q'\nkernel=\"/boot/with \\\"quotes\\\" and \\\\ back\"\n"
	"ramdisk='/i n/it\\rd'\ncmdline=\"tab\\there\\nnewline\\x01\\x7f\\xff\"\n",
	"name='u'\nkernel=\"/boot/vml\xc3\xbcnz\"\nextra='\xe2\x82\xac'\n",
	"name='r'\nroot='/dev/xvda1'\nextra='console=hvc0 quiet'\n",
	"name='s'\nserial='file:/var/log/a \"b\" \\\\c'\n",
	"name='s'\nserial=['pty']\non_poweroff='rename-restart'\n"
	"on_reboot='coredump-destroy'\non_crash='preserve'\n",
	"name='s'\nserial='none'\non_crash='coredump-restart'\n",
	"name='d'\ndisk=['vdev=xvda, access=ro, target=/a,b=c, \"d\"\\\\e',\n"
	"'phy:/dev/vg/lv,xvdb,w', '/img/c,raw,xvdc,rw']\n",
	"name='x'\ndisk=['no-discard,direct-io,size=1G,/img/a,raw,xvda,ro',\n"
	"'script=block-lvm, vdev=xvdb, target=vg0/data', 'iscsi:iqn:x,xvdc,w',\n"
	"'size=4096,script=/etc/s p\xc3\xa4"
	"ce,phy:sdb,xvdd,w']\n",
	"name='n'\nvif=['mac=00:16:3e:00:00:01, bridge=br0, vifname=tap-a',\n"
	"'model=virtio', '']\n",
	"name='n'\nvif=['script=vif-x, ip=10.0.0.2 ::1, rate=10Mb/s@20ms',\n"
	"'rate=1KB/s, script=/usr/lib/a b']\n",
	"name='w'\nbuilder='hvm'\nvnc=1\nmemory='2G'\nvcpus='3'\n",
};

static void test_round_trip_many_configs(void **state)
{
	struct parse_result *r;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(configs); i++) {
		r = cfg_parse(configs[i], NULL, 0);
		if (r->rc)
			fail_msg("config %zu: %s", i, r->diag.error);
		cfg_assert_round_trip(&r->cfg);
		free(r);
	}
}

static void test_canonical_text(void **state)
{
	struct parse_result *r = cfg_ok(
		"vif = ['bridge=br0,mac=00:16:3e:00:00:01']\n"
		"disk = ['/img/a,raw,xvda', 'phy:/dev/sdb,xvdb,r']\n"
		"name = 'web'\nuuid = '6F9619FF-8B86-D011-B42D-00C04FC964FF'\n"
		"memory = 0x200\nkernel = '/boot/vmlinux'\n"
		"cmdline = 'say \"hi\"'\nvnc = 1\n");
	char text[4096];

	assert_int_equal(domain_config_format(&r->cfg, text, sizeof(text)), 0);
	assert_string_equal(
		text,
		"name = \"web\"\n"
		"uuid = \"6f9619ff-8b86-d011-b42d-00c04fc964ff\"\n"
		"memory = 512\n"
		"vcpus = 1\n"
		"cpu = \"host\"\n"
		"kernel = \"/boot/vmlinux\"\n"
		"cmdline = \"say \\\"hi\\\"\"\n"
		"serial = \"stdio\"\n"
		"on_poweroff = \"destroy\"\n"
		"on_reboot = \"restart\"\n"
		"on_crash = \"destroy\"\n"
		"disk = [\n"
		"    \"format=raw, vdev=xvda, access=rw, target=/img/a\",\n"
		"    \"format=raw, vdev=xvdb, access=ro, target=/dev/sdb\",\n"
		"]\n"
		"vif = [\n"
		"    \"mac=00:16:3e:00:00:01, bridge=br0, model=virtio\",\n"
		"]\n");
	free(r);
}

/* Every string at its longest, made of bytes that need escapes. */
static void worst_case(struct domain_config *c)
{
	unsigned int i;

	domain_config_init(c);
	memset(c->name, 'n', DOMAIN_NAME_MAX);
	c->uuid[0] = 1;
	c->uuid_given = true;
	memset(c->kernel, 0x01, DOMAIN_PATH_MAX);
	memset(c->ramdisk, '"', DOMAIN_PATH_MAX);
	memset(c->cmdline, 0xff, DOMAIN_CMDLINE_MAX);
	c->serial = DOMAIN_SERIAL_FILE;
	memset(c->serial_path, 0x7f, DOMAIN_PATH_MAX);
	strcpy(c->cpu, "x86-64-v4");
	c->nr_disks = DOMAIN_DISKS_MAX;
	for (i = 0; i < DOMAIN_DISKS_MAX; i++) {
		memset(c->disks[i].target, 0x02, DOMAIN_PATH_MAX);
		c->disks[i].target[0] = (char)('A' + i);
		memset(c->disks[i].vdev, 'x', DOMAIN_VDEV_MAX);
		c->disks[i].vdev[0] = (char)('a' + i);
		memset(c->disks[i].script, 0xff, DOMAIN_SCRIPT_MAX);
		c->disks[i].size = INT64_MAX - 511;
		c->disks[i].no_discard = true;
		c->disks[i].direct_io = true;
	}
	c->nr_vifs = DOMAIN_VIFS_MAX;
	for (i = 0; i < DOMAIN_VIFS_MAX; i++) {
		c->vifs[i].mac[0] = 2;
		c->vifs[i].mac[5] = (uint8_t)i;
		memset(c->vifs[i].bridge, 'b', DOMAIN_IFNAME_MAX);
		memset(c->vifs[i].vifname, 'v', DOMAIN_IFNAME_MAX);
		memset(c->vifs[i].script, 0xff, DOMAIN_SCRIPT_MAX);
		/* Eight addresses of 15 bytes and seven blanks: 127 bytes. */
		for (unsigned int k = 0; k < 8; k++)
			memcpy(c->vifs[i].ip + 16 * k,
			       k < 7 ? "255.255.255.255 " : "255.255.255.255",
			       k < 7 ? 16 : 15);
		c->vifs[i].rate_bytes_per_s = UINT32_MAX;
		c->vifs[i].rate_interval_us = 1000000;
	}
}

static void test_worst_case_fits_and_round_trips(void **state)
{
	struct domain_config *c = test_alloc(sizeof(*c));
	char *text = test_alloc(DOMAIN_CONFIG_TEXT_MAX);

	worst_case(c);
	assert_int_equal(domain_config_format(c, text, DOMAIN_CONFIG_TEXT_MAX),
			 0);
	assert_true(strlen(text) < DOMAIN_CONFIG_TEXT_MAX);
	cfg_assert_round_trip(c);
	free(text);
	free(c);
}

static void test_format_reports_short_buffers(void **state)
{
	struct parse_result *r = cfg_ok("name = 'vm'\n");
	char text[4096];
	size_t need;

	assert_int_equal(domain_config_format(&r->cfg, text, sizeof(text)), 0);
	need = strlen(text) + 1;
	assert_int_equal(domain_config_format(&r->cfg, text, need), 0);
	assert_int_equal(domain_config_format(&r->cfg, text, need - 1),
			 -ENOSPC);
	assert_string_equal(text, "");
	assert_int_equal(domain_config_format(&r->cfg, text, 0), -ENOSPC);
	free(r);
}

static void test_format_refuses_invalid_structs(void **state)
{
	struct parse_result *r = cfg_ok("name = 'vm'\n");
	struct domain_config c = r->cfg;
	char text[4096];

	c.on_crash = (enum domain_action)42;
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	c = r->cfg;
	c.nr_disks = DOMAIN_DISKS_MAX + 1;
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	/* Disk parts that would read back as something else. */
	c = r->cfg;
	c.nr_disks = 1;
	strcpy(c.disks[0].target, "/a");
	strcpy(c.disks[0].vdev, "xvda");
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), 0);
	strcpy(c.disks[0].script, "a,b");
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	strcpy(c.disks[0].script, " a");
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	strcpy(c.disks[0].script, "a\n");
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	c.disks[0].script[0] = 0;
	c.disks[0].size = 1000;
	assert_int_equal(domain_config_format(&c, text, sizeof(text)), -EINVAL);
	free(r);
}

static void test_equal_sees_every_difference(void **state)
{
	struct parse_result *r =
		cfg_ok("name='vm'\ndisk=['/a,raw,xvda']\nvif=['bridge=br0']\n");
	struct domain_config a = r->cfg, b;

	b = a;
	b.uuid_given = !a.uuid_given;
	assert_true(domain_config_equal(&a, &b));
	b = a;
	b.name[0] = 'V';
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.uuid[15] ^= 1;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.maxmem_mib++;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.disks[0].readonly = true;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.disks[0].no_discard = true;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.disks[0].direct_io = true;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.disks[0].size = 512;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.disks[0].script[0] = 's';
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.vifs[0].mac[3] ^= 1;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.on_reboot = DOMAIN_ACTION_DESTROY;
	assert_false(domain_config_equal(&a, &b));
	b = a;
	b.nr_vifs = 0;
	assert_false(domain_config_equal(&a, &b));
	free(r);
}

static void test_load_from_file(void **state)
{
	char path[] = "/tmp/godwit-config-XXXXXX";
	static const char text[] = "name = 'loaded'\nmemory = 64\n";
	static const char *const ov[] = { "vcpus=2" };
	struct domain_config cfg;
	struct config_diag diag;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, sizeof(text) - 1),
			 (ssize_t)sizeof(text) - 1);
	assert_int_equal(domain_config_load(path, ov, 1, &cfg, &diag), 0);
	assert_string_equal(cfg.name, "loaded");
	assert_int_equal(cfg.memory_mib, 64);
	assert_int_equal(cfg.vcpus, 2);
	assert_int_equal(ftruncate(fd, CONFIG_FILE_MAX + 1), 0);
	assert_int_equal(domain_config_load(path, NULL, 0, &cfg, &diag),
			 -EINVAL);
	assert_true(strstr(diag.error, ": file too large (max 1048576 bytes)"));
	close(fd);
	unlink(path);
	assert_int_equal(domain_config_load(path, NULL, 0, &cfg, &diag),
			 -ENOENT);
	assert_true(
		strstr(diag.error, ": cannot open: No such file or directory"));
	assert_int_equal(domain_config_load("/", NULL, 0, &cfg, &diag),
			 -EINVAL);
	assert_string_equal(diag.error, "/: not a regular file");
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_round_trip_many_configs),
	cmocka_unit_test(test_canonical_text),
	cmocka_unit_test(test_worst_case_fits_and_round_trips),
	cmocka_unit_test(test_format_reports_short_buffers),
	cmocka_unit_test(test_format_refuses_invalid_structs),
	cmocka_unit_test(test_equal_sees_every_difference),
	cmocka_unit_test(test_load_from_file),
};

int config_test_roundtrip(void)
{
	return cmocka_run_group_tests_name("config round trip", tests, NULL,
					   NULL);
}
