/*
 * Device specs in the disk and vif lists: xl's keyword, positional and
 * xm legacy disk forms, vif parameters and MAC rules, and the per-entry
 * error messages.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "helpers.h"

/* Parse one disk spec as the only entry; free() the result. */
static struct parse_result *one_disk(const char *spec)
{
	char text[DOMAIN_PATH_MAX + 128];

	snprintf(text, sizeof(text), "name='vm'\ndisk = [ '%s' ]\n", spec);
	return cfg_ok(text);
}

/* The format spec names, checked to survive formatting and parsing. */
static enum domain_disk_format format_of(const char *spec)
{
	struct parse_result *r = one_disk(spec);
	enum domain_disk_format f = r->cfg.disks[0].format;

	cfg_assert_round_trip(&r->cfg);
	free(r);
	return f;
}

static void disk_fails(const char *spec, const char *message)
{
	char text[DOMAIN_PATH_MAX + 128];

	snprintf(text, sizeof(text), "name='vm'\ndisk = [ '%s' ]\n", spec);
	cfg_fails(text, message);
}

static void assert_disk(const char *spec, const char *target, const char *vdev,
			bool readonly)
{
	struct parse_result *r = one_disk(spec);

	assert_int_equal(r->cfg.nr_disks, 1);
	assert_string_equal(r->cfg.disks[0].target, target);
	assert_string_equal(r->cfg.disks[0].vdev, vdev);
	assert_int_equal(r->cfg.disks[0].format, DOMAIN_DISK_RAW);
	assert_int_equal(r->cfg.disks[0].readonly, readonly);
	assert_int_equal(r->diag.nr_warnings, 0);
	free(r);
}

static void test_disk_forms(void **state)
{
	assert_disk("format=raw, vdev=xvda, access=rw, target=/img/a.raw",
		    "/img/a.raw", "xvda", false);
	assert_disk("vdev=xvdb,access=ro,target=/img/b", "/img/b", "xvdb",
		    true);
	/* target= swallows the rest, so it has to come last. */
	disk_fails(
		"target=/img/c,vdev=xvdc",
		"vm.cfg:2: disk: entry 1: no vdev (the guest's name for the disk, e.g. xvda)");
}

static void test_disk_target_takes_the_rest(void **state)
{
	struct parse_result *r =
		one_disk("vdev=xvda, access=r, target= /img/a, b=c, d ");

	assert_string_equal(r->cfg.disks[0].target, "/img/a, b=c, d");
	assert_true(r->cfg.disks[0].readonly);
	free(r);
}

static void test_disk_positional_forms(void **state)
{
	assert_disk("/img/a,raw,xvda,rw", "/img/a", "xvda", false);
	assert_disk(" /img/a , raw , xvda , ro ", "/img/a", "xvda", true);
	assert_disk("/img/a,,xvdb", "/img/a", "xvdb", false);
	assert_disk("/img/a,raw,xvda", "/img/a", "xvda", false);
	assert_disk("/img/a,raw,vdev=xvde", "/img/a", "xvde", false);
	assert_disk("access=ro,/img/a,raw,xvda", "/img/a", "xvda", true);
}

static void test_disk_xm_legacy_forms(void **state)
{
	assert_disk("phy:/dev/vg/lv,xvda,w", "/dev/vg/lv", "xvda", false);
	assert_disk("file:/img/a,xvdb,r", "/img/a", "xvdb", true);
	assert_disk("tap:aio:/img/a,hda,w", "/img/a", "hda", false);
	assert_disk("/img/a,xvda,w", "/img/a", "xvda", false);
	/* Found by fuzzing: blanks after a prefix did not round-trip. */
	assert_disk("phy:\t /dev/sdb,xvdb,r", "/dev/sdb", "xvdb", true);
	disk_fails("phy: ,xvdb,r",
		   "vm.cfg:2: disk: entry 1: no target (the disk image path)");
	assert_int_equal(format_of("qcow2:/img/a,xvda,w"), DOMAIN_DISK_QCOW2);
	assert_int_equal(format_of("tap:qcow2:/img/a,xvda,w"),
			 DOMAIN_DISK_QCOW2);
	assert_int_equal(format_of("/img/a,xvda,w"), DOMAIN_DISK_RAW);
	disk_fails(
		"qcow:/img/a,xvda,w",
		"vm.cfg:2: disk: entry 1: format \"qcow\" is not supported (raw or qcow2)");
	disk_fails(
		"phy:/dev/sdb,raw,xvda,w,extra",
		"vm.cfg:2: disk: entry 1: too many positional parameters (target,format,vdev,access)");
}

static void test_disk_errors(void **state)
{
	assert_int_equal(format_of("vdev=xvda, format=qcow2, target=/a"),
			 DOMAIN_DISK_QCOW2);
	assert_int_equal(format_of("/a,qcow2,xvda,rw"), DOMAIN_DISK_QCOW2);
	disk_fails(
		"vdev=xvda, format=vhd, target=/a",
		"vm.cfg:2: disk: entry 1: format \"vhd\" is not supported (raw or qcow2)");
	disk_fails(
		"vdev=xvda, format=vmdk, target=/a",
		"vm.cfg:2: disk: entry 1: unknown format \"vmdk\" (raw or qcow2 are supported)");
	disk_fails(
		"format=raw, target=/a",
		"vm.cfg:2: disk: entry 1: no vdev (the guest's name for the disk, e.g. xvda)");
	disk_fails("vdev=xvda",
		   "vm.cfg:2: disk: entry 1: no target (the disk image path)");
	disk_fails("",
		   "vm.cfg:2: disk: entry 1: no target (the disk image path)");
	disk_fails("vdev=xvda, target=",
		   "vm.cfg:2: disk: entry 1: no target (the disk image path)");
	disk_fails(
		"vdev=Xvda, target=/a",
		"vm.cfg:2: disk: entry 1: invalid vdev \"Xvda\" (a-z then a-z 0-9, at most 15 bytes)");
	disk_fails(
		"vdev=xvdaaaaaaaaaaaaaa, target=/a",
		"vm.cfg:2: disk: entry 1: invalid vdev \"xvdaaaaaaaaaaaaaa\" (a-z then a-z 0-9, at most 15 bytes)");
	disk_fails(",,hdc:cdrom,r",
		   "vm.cfg:2: disk: entry 1: no target (the disk image path)");
	disk_fails("/iso,raw,hdc:cdrom,r",
		   "vm.cfg:2: disk: entry 1: cdrom devices are not supported");
	disk_fails("vdev=hdc, devtype=cdrom, target=/iso",
		   "vm.cfg:2: disk: entry 1: cdrom devices are not supported");
	disk_fails("vdev=hdc, devtype=floppy, target=/iso",
		   "vm.cfg:2: disk: entry 1: unknown devtype \"floppy\"");
	disk_fails(
		"vdev=xvd-a, target=/a",
		"vm.cfg:2: disk: entry 1: invalid vdev \"xvd-a\" (a-z then a-z 0-9, at most 15 bytes)");
	disk_fails(
		"vdev=xvda, access=rwx, target=/a",
		"vm.cfg:2: disk: entry 1: access must be ro or rw, got \"rwx\"");
	disk_fails("vdev=xvda, colour=blue, target=/a",
		   "vm.cfg:2: disk: entry 1: unknown parameter \"colour\"");
	disk_fails("vdev=xvda, vdev=xvdb, target=/a",
		   "vm.cfg:2: disk: entry 1: vdev given twice");
	disk_fails("/a,raw,xvda,rw,target=/b",
		   "vm.cfg:2: disk: entry 1: target given twice");
}

static void test_disk_target_length_limit(void **state)
{
	char spec[DOMAIN_PATH_MAX + 40];
	struct parse_result *r;
	size_t len;

	len = sprintf(spec, "devtype=disk, vdev=xvda, target=/");
	memset(spec + len, 't', DOMAIN_PATH_MAX - 1);
	spec[len + DOMAIN_PATH_MAX - 1] = 0;
	r = one_disk(spec);
	assert_int_equal(strlen(r->cfg.disks[0].target), DOMAIN_PATH_MAX);
	free(r);
	strcat(spec, "t");
	disk_fails(spec,
		   "vm.cfg:2: disk: entry 1: target too long (max 1023 bytes)");
}

static void test_disk_ignored_parameters_warn(void **state)
{
	struct parse_result *r = one_disk(
		"backendtype=qdisk, direct-io-safe, vdev=xvda, trusted, target=/a");

	/* backendtype names a Xen backend: godwit has one, no warning. */
	assert_int_equal(r->diag.nr_warnings, 2);
	assert_string_equal(
		r->diag.warnings[0],
		"vm.cfg:2: disk: entry 1: direct-io-safe ignored (not implemented by godwit)");
	assert_string_equal(
		r->diag.warnings[1],
		"vm.cfg:2: disk: entry 1: trusted ignored (not implemented by godwit)");
	free(r);
}

static void test_disk_list_rules(void **state)
{
	char text[4096];
	struct parse_result *r;
	size_t len;
	int i;

	len = sprintf(text, "name='vm'\ndisk = [\n");
	for (i = 0; i < DOMAIN_DISKS_MAX; i++)
		len += sprintf(text + len, "  '/img/%d,raw,xvd%c',\n", i,
			       'a' + i);
	strcpy(text + len, "]\n");
	r = cfg_ok(text);
	assert_int_equal(r->cfg.nr_disks, DOMAIN_DISKS_MAX);
	assert_string_equal(r->cfg.disks[15].vdev, "xvdp");
	free(r);
	strcpy(text + len, "'/img/x,raw,xvdz']\n");
	cfg_fails(text, "vm.cfg:2: disk: too many disks (max 16)");
	cfg_fails(
		"name='vm'\ndisk = [ '/a,raw,xvda',\n '/b,raw,xvda' ]\n",
		"vm.cfg:3: disk: entry 2: vdev xvda is already used by entry 1");
	cfg_fails(
		"name='vm'\ndisk = '/a,raw,xvda'\n",
		"vm.cfg:2: disk: expected a list of strings, got \"/a,raw,xvda\"");
	cfg_fails("name='vm'\ndisk = [ 5 ]\n",
		  "vm.cfg:2: disk: expected a string, got 5");
	/* A later disk list replaces the earlier one. */
	r = cfg_ok("name='vm'\ndisk = ['/a,raw,xvda', '/b,raw,xvdb']\n"
		   "disk = ['/c,raw,xvdc']\n");
	assert_int_equal(r->cfg.nr_disks, 1);
	assert_string_equal(r->cfg.disks[0].target, "/c");
	assert_string_equal(r->cfg.disks[1].target, "");
	free(r);
}

static struct parse_result *one_vif(const char *spec)
{
	char text[512];

	snprintf(text, sizeof(text), "name='vm'\nvif = [ '%s' ]\n", spec);
	return cfg_ok(text);
}

static void vif_fails(const char *spec, const char *message)
{
	char text[512];

	snprintf(text, sizeof(text), "name='vm'\nvif = [ '%s' ]\n", spec);
	cfg_fails(text, message);
}

static void test_vif_parameters(void **state)
{
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0xab, 0xcd, 0xef };
	struct parse_result *r = one_vif(
		"mac=00:16:3E:AB:CD:EF, bridge=br0, vifname=vm-eth0, model=virtio");
	char text[DOMAIN_MAC_STR_LEN + 1];

	assert_int_equal(r->cfg.nr_vifs, 1);
	assert_memory_equal(r->cfg.vifs[0].mac, mac, 6);
	assert_string_equal(r->cfg.vifs[0].bridge, "br0");
	assert_string_equal(r->cfg.vifs[0].vifname, "vm-eth0");
	assert_int_equal(r->cfg.vifs[0].model, DOMAIN_VIF_VIRTIO);
	domain_config_mac_format(r->cfg.vifs[0].mac, text);
	assert_string_equal(text, "00:16:3e:ab:cd:ef");
	free(r);
	r = one_vif("model=virtio-net,bridge=xenbr0,");
	assert_string_equal(r->cfg.vifs[0].bridge, "xenbr0");
	free(r);
}

static void test_vif_mac_generated_when_absent(void **state)
{
	struct parse_result *r =
		cfg_ok("name='vm'\nvif = [ '', 'bridge=br0' ]\n");
	static const uint8_t zero[6];

	assert_int_equal(r->cfg.nr_vifs, 2);
	assert_memory_not_equal(r->cfg.vifs[0].mac, zero, 6);
	/* In Xen's range, as xl generates them: 00:16:3e, then < 0x80. */
	for (int i = 0; i < 2; i++) {
		assert_memory_equal(r->cfg.vifs[i].mac, "\x00\x16\x3e", 3);
		assert_true(r->cfg.vifs[i].mac[3] < 0x80);
	}
	assert_memory_not_equal(r->cfg.vifs[0].mac, r->cfg.vifs[1].mac, 6);
	assert_string_equal(r->cfg.vifs[0].bridge, "");
	free(r);
}

static void test_vif_errors(void **state)
{
	vif_fails(
		"mac=00:16:3e:ab:cd",
		"vm.cfg:2: vif: entry 1: invalid mac \"00:16:3e:ab:cd\" (expected xx:xx:xx:xx:xx:xx)");
	vif_fails(
		"mac=00-16-3e-ab-cd-ef",
		"vm.cfg:2: vif: entry 1: invalid mac \"00-16-3e-ab-cd-ef\" (expected xx:xx:xx:xx:xx:xx)");
	vif_fails(
		"mac=00:16:3e:ab:cd:ef:01",
		"vm.cfg:2: vif: entry 1: invalid mac \"00:16:3e:ab:cd:ef:01\" (expected xx:xx:xx:xx:xx:xx)");
	vif_fails(
		"mac=01:00:5e:00:00:01",
		"vm.cfg:2: vif: entry 1: mac \"01:00:5e:00:00:01\" is a multicast address");
	vif_fails(
		"mac=ff:ff:ff:ff:ff:ff",
		"vm.cfg:2: vif: entry 1: mac \"ff:ff:ff:ff:ff:ff\" is a multicast address");
	vif_fails(
		"mac=00:00:00:00:00:00",
		"vm.cfg:2: vif: entry 1: mac \"00:00:00:00:00:00\" is not a valid address");
	vif_fails(
		"bridge=br 0",
		"vm.cfg:2: vif: entry 1: invalid bridge \"br 0\" (1 to 15 of A-Z a-z 0-9 _ . -)");
	vif_fails(
		"bridge=",
		"vm.cfg:2: vif: entry 1: invalid bridge \"\" (1 to 15 of A-Z a-z 0-9 _ . -)");
	vif_fails(
		"vifname=a-very-long-name0",
		"vm.cfg:2: vif: entry 1: invalid vifname \"a-very-long-name0\" (1 to 15 of A-Z a-z 0-9 _ . -)");
	vif_fails(
		"model=e1000",
		"vm.cfg:2: vif: entry 1: model \"e1000\" is not supported (only virtio)");
	vif_fails("colour=blue",
		  "vm.cfg:2: vif: entry 1: unknown parameter \"colour\"");
	vif_fails("bridge",
		  "vm.cfg:2: vif: entry 1: expected key=value, got \"bridge\"");
	vif_fails("bridge=a, bridge=b",
		  "vm.cfg:2: vif: entry 1: bridge given twice");
	cfg_fails(
		"name='vm'\nvif = [ 'mac=00:16:3e:00:00:01',\n"
		"'mac=00:16:3E:00:00:01' ]\n",
		"vm.cfg:3: vif: entry 2: mac 00:16:3e:00:00:01 is already used by entry 1");
	cfg_fails("name='vm'\nvif = ['','','','','','','','','']\n",
		  "vm.cfg:2: vif: too many network interfaces (max 8)");
}

static void test_vif_ignored_parameters_warn(void **state)
{
	struct parse_result *r =
		one_vif("type=vif, gatewaydev=eth0, bridge=br0, mtu=1500");

	assert_int_equal(r->diag.nr_warnings, 3);
	assert_string_equal(
		r->diag.warnings[0],
		"vm.cfg:2: vif: entry 1: type ignored (not implemented by godwit)");
	assert_string_equal(r->cfg.vifs[0].bridge, "br0");
	free(r);
}

/* script=, ip= and rate= as xl-network-configuration(5) has them. */
static void test_vif_script_ip_rate(void **state)
{
	struct parse_result *r =
		one_vif("script=vif-custom, ip=10.0.0.2  192.168.1.7 fe80::1, "
			"rate=10Mb/s@20ms");
	const struct domain_vif *v = &r->cfg.vifs[0];

	assert_int_equal(r->diag.nr_warnings, 0);
	assert_string_equal(v->script, "vif-custom");
	assert_string_equal(v->ip, "10.0.0.2 192.168.1.7 fe80::1");
	assert_int_equal(v->rate_bytes_per_s, 1250000);
	assert_int_equal(v->rate_interval_us, 20000);
	free(r);
	r = one_vif("rate=250KB/s");
	assert_int_equal(r->cfg.vifs[0].rate_bytes_per_s, 250000);
	assert_int_equal(r->cfg.vifs[0].rate_interval_us, 50000);
	free(r);
	r = one_vif("rate=1GB/s@1s, script=/etc/xen/scripts/vif-bridge");
	assert_int_equal(r->cfg.vifs[0].rate_bytes_per_s, 1000000000);
	assert_int_equal(r->cfg.vifs[0].rate_interval_us, 1000000);
	assert_string_equal(r->cfg.vifs[0].script,
			    "/etc/xen/scripts/vif-bridge");
	free(r);
	r = one_vif("rate=100B/s@10000");
	assert_int_equal(r->cfg.vifs[0].rate_bytes_per_s, 100);
	assert_int_equal(r->cfg.vifs[0].rate_interval_us, 10000);
	free(r);
}

static void test_vif_script_ip_rate_errors(void **state)
{
	vif_fails(
		"ip=10.0.0.300",
		"vm.cfg:2: vif: entry 1: invalid ip \"10.0.0.300\" (IPv4 or IPv6 addresses)");
	vif_fails("ip=", "vm.cfg:2: vif: entry 1: ip is empty");
	vif_fails("script=", "vm.cfg:2: vif: entry 1: invalid script \"\"");
	vif_fails(
		"rate=10Mb",
		"vm.cfg:2: vif: entry 1: invalid rate \"10Mb\" (expected RATE/s[@INTERVAL], e.g. 10Mb/s@20ms)");
	vif_fails(
		"rate=10Xb/s",
		"vm.cfg:2: vif: entry 1: invalid rate \"10Xb/s\" (expected RATE/s[@INTERVAL], e.g. 10Mb/s@20ms)");
	vif_fails(
		"rate=10MB/s@20h",
		"vm.cfg:2: vif: entry 1: invalid rate \"10MB/s@20h\" (expected RATE/s[@INTERVAL], e.g. 10Mb/s@20ms)");
	vif_fails(
		"rate=0B/s",
		"vm.cfg:2: vif: entry 1: rate \"0B/s\" is out of range (1 byte to 4 GiB per interval, an interval of 1 us to 60 s)");
	/* 10 B/s over 50 ms is half a byte of credit: nothing could go. */
	vif_fails(
		"rate=10B/s",
		"vm.cfg:2: vif: entry 1: rate \"10B/s\" is out of range (1 byte to 4 GiB per interval, an interval of 1 us to 60 s)");
	vif_fails(
		"rate=100GB/s@1s",
		"vm.cfg:2: vif: entry 1: rate \"100GB/s@1s\" is out of range (1 byte to 4 GiB per interval, an interval of 1 us to 60 s)");
	vif_fails(
		"rate=1MB/s@61s",
		"vm.cfg:2: vif: entry 1: rate \"1MB/s@61s\" is out of range (1 byte to 4 GiB per interval, an interval of 1 us to 60 s)");
}

/* godwit run --vif: a spec checked like a list entry, MACs unique. */
static void test_vif_added_from_the_command_line(void **state)
{
	struct parse_result *r =
		cfg_ok("name='vm'\nvif=['mac=00:16:3e:00:00:01']\n");

	assert_int_equal(domain_config_add_vif(&r->cfg, "--vif",
					       "bridge=br1, rate=1MB/s",
					       &r->diag),
			 0);
	assert_int_equal(r->cfg.nr_vifs, 2);
	assert_string_equal(r->cfg.vifs[1].bridge, "br1");
	assert_memory_equal(r->cfg.vifs[1].mac, "\x00\x16\x3e", 3);
	assert_int_equal(domain_config_add_vif(&r->cfg, "--vif",
					       "mac=00:16:3E:00:00:01",
					       &r->diag),
			 -EINVAL);
	assert_string_equal(
		r->diag.error,
		"--vif \"mac=00:16:3E:00:00:01\": mac 00:16:3e:00:00:01 is already used by vif 1");
	assert_int_equal(r->cfg.nr_vifs, 2);
	free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_disk_forms),
	cmocka_unit_test(test_disk_target_takes_the_rest),
	cmocka_unit_test(test_disk_positional_forms),
	cmocka_unit_test(test_disk_xm_legacy_forms),
	cmocka_unit_test(test_disk_errors),
	cmocka_unit_test(test_disk_target_length_limit),
	cmocka_unit_test(test_disk_ignored_parameters_warn),
	cmocka_unit_test(test_disk_list_rules),
	cmocka_unit_test(test_vif_parameters),
	cmocka_unit_test(test_vif_mac_generated_when_absent),
	cmocka_unit_test(test_vif_errors),
	cmocka_unit_test(test_vif_ignored_parameters_warn),
	cmocka_unit_test(test_vif_script_ip_rate),
	cmocka_unit_test(test_vif_script_ip_rate_errors),
	cmocka_unit_test(test_vif_added_from_the_command_line),
};

int config_test_specs(void)
{
	return cmocka_run_group_tests_name("config specs", tests, NULL, NULL);
}
