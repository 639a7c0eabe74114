/*
 * Disk specs as Xen's xl-disk-configuration documents them, beyond the
 * basic forms in test_specs.c: old prefixes stripped in a loop (and the
 * formats and scripts some of them name), flags, script=, size=,
 * backendtype=, specification=, vdev suffixes, empty parameters, what
 * is refused and how; and one spec added from the command line
 * (domain_config_add_disk, `godwit run --disk`).
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

/* The one disk of a config holding spec; free() the result. */
static struct parse_result *disk_of(const char *spec)
{
	char text[1024];

	snprintf(text, sizeof(text), "name='vm'\ndisk = [ \"%s\" ]\n", spec);
	return cfg_ok(text);
}

static void disk_refused(const char *spec, const char *why)
{
	char text[1024], msg[512];

	snprintf(text, sizeof(text), "name='vm'\ndisk = [ \"%s\" ]\n", spec);
	snprintf(msg, sizeof(msg), "vm.cfg:2: disk: entry 1: %s", why);
	cfg_fails(text, msg);
}

/* Parse spec and compare every field with want (vdev, target set). */
static void disk_is(const char *spec, const struct domain_disk *want)
{
	struct parse_result *r = disk_of(spec);
	const struct domain_disk *d = &r->cfg.disks[0];

	assert_int_equal(r->cfg.nr_disks, 1);
	assert_string_equal(d->target, want->target);
	assert_string_equal(d->vdev, want->vdev);
	assert_string_equal(d->script, want->script);
	assert_int_equal(d->readonly, want->readonly);
	assert_int_equal(d->no_discard, want->no_discard);
	assert_int_equal(d->direct_io, want->direct_io);
	assert_int_equal(d->size, want->size);
	assert_int_equal(d->format, DOMAIN_DISK_RAW);
	cfg_assert_round_trip(&r->cfg);
	free(r);
}

#define DISK(...) (&(const struct domain_disk){ __VA_ARGS__ })

/* The forms named in the task and the xl document, one by one. */
static void test_xl_forms(void **state)
{
	disk_is("file:/srv/a.img,xvda,w",
		DISK(.target = "/srv/a.img", .vdev = "xvda"));
	disk_is("phy:/dev/loop0,xvdb,r",
		DISK(.target = "/dev/loop0", .vdev = "xvdb", .readonly = true));
	disk_is("/srv/a.img,raw,xvda,rw",
		DISK(.target = "/srv/a.img", .vdev = "xvda"));
	disk_is("format=raw, vdev=xvda, access=rw, target=/srv/a.img",
		DISK(.target = "/srv/a.img", .vdev = "xvda"));
	/* xl's four equivalent spellings. */
	disk_is("/dev/vg/guest-volume,,hda",
		DISK(.target = "/dev/vg/guest-volume", .vdev = "hda"));
	disk_is("/dev/vg/guest-volume,raw,hda,rw",
		DISK(.target = "/dev/vg/guest-volume", .vdev = "hda"));
	disk_is("format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
		DISK(.target = "/dev/vg/guest-volume", .vdev = "hda"));
	disk_is("raw:/dev/vg/guest-volume,hda,w",
		DISK(.target = "/dev/vg/guest-volume", .vdev = "hda"));
	/* Empty values keep the defaults, as in xl. */
	disk_is("format=, access=, vdev=xvda, target=/a",
		DISK(.target = "/a", .vdev = "xvda"));
	disk_is("/a,raw,xvda:disk,ro",
		DISK(.target = "/a", .vdev = "xvda", .readonly = true));
}

static void test_old_prefixes(void **state)
{
	disk_is("tap:aio:/img/a,xvda,w",
		DISK(.target = "/img/a", .vdev = "xvda"));
	disk_is("tap2:tapdisk:aio:/img/a,xvda,w",
		DISK(.target = "/img/a", .vdev = "xvda"));
	disk_is("ioemu:file:/img/a,xvda,w",
		DISK(.target = "/img/a", .vdev = "xvda"));
	disk_is("tap:raw:/img/a,xvda,w",
		DISK(.target = "/img/a", .vdev = "xvda"));
	/* phy: with a relative path is a device, as xm had it. */
	disk_is("phy:vg0/root,xvda,w",
		DISK(.target = "/dev/vg0/root", .vdev = "xvda"));
	disk_is("vg0/root,xvda,w", DISK(.target = "vg0/root", .vdev = "xvda"));
	/* Script prefixes: the rest is the script's business. */
	disk_is("iscsi:iqn.2001-04.com.example:disk1,xvda,w",
		DISK(.target = "iqn.2001-04.com.example:disk1", .vdev = "xvda",
		     .script = "block-iscsi"));
	disk_is("nbd:host:10809,xvda,w",
		DISK(.target = "host:10809", .vdev = "xvda",
		     .script = "block-nbd"));
	disk_is("drbd:r0,xvda,w",
		DISK(.target = "r0", .vdev = "xvda", .script = "block-drbd"));
	/* A colon followed by a letter is part of the target. */
	disk_is("host:port/x,xvda,w",
		DISK(.target = "host:port/x", .vdev = "xvda"));
	disk_refused("qcow:/img/a,xvda,w",
		     "format \"qcow\" is not supported (raw or qcow2)");
	disk_refused("tap:vhd:/img/a,xvda,w",
		     "format \"vhd\" is not supported (raw or qcow2)");
	disk_refused("foo:/img/a,xvda,w", "unknown prefix \"foo:\"");
	disk_refused("raw:qcow2:/img/a,xvda,w", "format given twice");
	disk_refused("iscsi:x,xvda,w,script=block-a", "script given twice");
}

static void test_flags_size_script(void **state)
{
	disk_is("no-discard, direct-io, vdev=xvda, target=/a",
		DISK(.target = "/a", .vdev = "xvda", .no_discard = true,
		     .direct_io = true));
	disk_is("no-discard, discard, vdev=xvda, target=/a",
		DISK(.target = "/a", .vdev = "xvda"));
	disk_is("size=1G, vdev=xvda, target=/a",
		DISK(.target = "/a", .vdev = "xvda", .size = 1ULL << 30));
	disk_is("size=4096,/a,raw,xvda",
		DISK(.target = "/a", .vdev = "xvda", .size = 4096));
	disk_is("size=64MiB,/a,raw,xvda",
		DISK(.target = "/a", .vdev = "xvda", .size = 64ULL << 20));
	disk_is("size=2t,/a,raw,xvda",
		DISK(.target = "/a", .vdev = "xvda", .size = 2ULL << 40));
	disk_is("script=block-lvm, vdev=xvda, target=vg0/root",
		DISK(.target = "vg0/root", .vdev = "xvda",
		     .script = "block-lvm"));
	disk_is("vdev=xvda, script=/usr/local/bin/my script, target=x",
		DISK(.target = "x", .vdev = "xvda",
		     .script = "/usr/local/bin/my script"));
	disk_is("backendtype=phy, specification=virtio, devtype=disk, /a,,xvda",
		DISK(.target = "/a", .vdev = "xvda"));
}

static void test_refused(void **state)
{
	static const char *const bad_sizes[] = { "0",
						 "1000",
						 "1.5G",
						 "G",
						 "12q",
						 "-512",
						 "99999999999999999999",
						 "16777216T" };
	char spec[128], why[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad_sizes); i++) {
		snprintf(spec, sizeof(spec), "size=%s,/a,raw,xvda",
			 bad_sizes[i]);
		snprintf(
			why, sizeof(why),
			"invalid size \"%s\" (bytes, or a number with K, M, G or T; a multiple of 512)",
			bad_sizes[i]);
		disk_refused(spec, why);
	}
	disk_refused("script=, vdev=xvda, target=/a", "invalid script \"\"");
	disk_refused("cdrom,/iso,raw,hdc", "cdrom devices are not supported");
	disk_refused("/iso,,hdc,,cdrom", "cdrom devices are not supported");
	disk_refused("colo,/a,raw,xvda", "COLO is not supported");
	disk_refused("colo-host=h,/a,raw,xvda", "COLO is not supported");
	disk_refused(
		"backendtype=vmware,/a,raw,xvda",
		"unknown backendtype \"vmware\" (phy, tap, qdisk or standalone)");
	disk_refused(
		"specification=xen,/a,raw,xvda",
		"specification xen is not supported (godwit disks are virtio)");
	disk_refused("/a,qed,xvda",
		     "format \"qed\" is not supported (raw or qcow2)");
	disk_refused("/a,vmdk,xvda,rw",
		     "unknown format \"vmdk\" (raw or qcow2 are supported)");
	/* Three items: xm's order only when the third is an access mode. */
	disk_refused("/a,vmdk,xvda",
		     "unknown format \"vmdk\" (raw or qcow2 are supported)");
}

static void test_warnings(void **state)
{
	struct parse_result *r =
		disk_of("backend=driverdom, grant_usage=1, no-colo, /a,,xvda");

	assert_int_equal(r->diag.nr_warnings, 3);
	assert_true(cfg_has_warning(
		&r->diag,
		"vm.cfg:2: disk: entry 1: backend ignored (not implemented by godwit)"));
	assert_true(cfg_has_warning(
		&r->diag,
		"vm.cfg:2: disk: entry 1: no-colo ignored (not implemented by godwit)"));
	free(r);
}

/* `godwit run --disk SPEC`: appended, checked, named in messages. */
static void test_add_disk(void **state)
{
	struct parse_result *r = cfg_ok("name='vm'\ndisk=['/a,raw,xvda']\n");
	struct domain_config *c = &r->cfg;
	struct config_diag d;
	char spec[32];
	int i;

	assert_int_equal(domain_config_add_disk(c, "--disk",
						"phy:/dev/loop0,xvdb,r", &d),
			 0);
	assert_int_equal(c->nr_disks, 2);
	assert_string_equal(c->disks[1].target, "/dev/loop0");
	assert_true(c->disks[1].readonly);
	assert_int_equal(domain_config_add_disk(c, "--disk", "/b,vhd,xvdc", &d),
			 -EINVAL);
	assert_string_equal(
		d.error,
		"--disk \"/b,vhd,xvdc\": format \"vhd\" is not supported (raw or qcow2)");
	assert_int_equal(domain_config_add_disk(c, "--disk", "/b,raw,xvda", &d),
			 -EINVAL);
	assert_string_equal(
		d.error,
		"--disk \"/b,raw,xvda\": vdev xvda is already used by disk 1");
	assert_int_equal(c->nr_disks, 2);
	for (i = 2; i < DOMAIN_DISKS_MAX; i++) {
		snprintf(spec, sizeof(spec), "/d%d,raw,xvd%c", i, 'a' + i);
		assert_int_equal(domain_config_add_disk(c, "--disk", spec, &d),
				 0);
	}
	assert_int_equal(domain_config_add_disk(c, "--disk", "/z,raw,xvdz", &d),
			 -EINVAL);
	assert_string_equal(d.error,
			    "--disk \"/z,raw,xvdz\": too many disks (max 16)");
	cfg_assert_round_trip(c);
	free(r);
}

static const struct CMUnitTest tests[] = {
	cmocka_unit_test(test_xl_forms),
	cmocka_unit_test(test_old_prefixes),
	cmocka_unit_test(test_flags_size_script),
	cmocka_unit_test(test_refused),
	cmocka_unit_test(test_warnings),
	cmocka_unit_test(test_add_disk),
};

int config_test_disks(void)
{
	return cmocka_run_group_tests_name("config disks", tests, NULL, NULL);
}
