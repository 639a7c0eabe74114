/*
 * Unit tests of the device registry and the descriptor contract with a
 * dummy device that exists only here: one struct dev_type and one line
 * in a device list are all it takes for the registry to create it, the
 * pause hooks to quiesce and resume it, the stream writer to save it
 * (vmstate_save_devices) and the reader to check and load it
 * (vmstate_rx_add, vmstate_apply_devices). Also the registry's own
 * rules: unique, short ids, complete descriptors, a bounded table, a
 * failed realize, and instances it only borrows. And the devices a
 * configuration adds (platform_conf): after the platform's, in virtio
 * slots 1, 2, ... in their order, each with its argument at realize and
 * at check.
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

#include "devices/platform.h"
#include "devices/registry.h"
#include "format/record.h"
#include "migration/recio.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

/* ---- The dummy device: its whole model -------------------------------- */

struct dummy_state {
	uint32_t value;
	uint32_t reserved; /* 0 */
	uint64_t counter;
};

/* The per-instance argument a configuration gives a dummy. */
struct dummy_arg {
	uint32_t value; /* the only value a saved state may hold */
};

struct dummy {
	char id[DEVICE_ID_LEN];
	const struct dummy_arg *arg;
	struct dummy_state st;
	int quiesced;
};

static char calls[512]; /* "realize(d0) reset(d0) ..." */

static void note(const char *op, const struct dummy *d)
{
	size_t n = strlen(calls);

	snprintf(calls + n, sizeof(calls) - n, "%s(%s) ", op, d->id);
}

static int dummy_realize(void *dev, const struct dev_host *host)
{
	struct dummy *d = dev;

	snprintf(d->id, sizeof(d->id), "%s", host->id);
	d->arg = host->arg;
	note("realize", d);
	return strcmp(host->id, "bad0") ? 0 : -EIO;
}

static void dummy_reset(void *dev)
{
	struct dummy *d = dev;

	d->st = (struct dummy_state){ .value = 7 };
	note("reset", d);
}

static void dummy_quiesce(void *dev)
{
	struct dummy *d = dev;

	d->quiesced++;
	note("quiesce", d);
}

static void dummy_resume(void *dev)
{
	struct dummy *d = dev;

	d->quiesced--;
	note("resume", d);
}

static void dummy_save(void *dev, void *state)
{
	struct dummy *d = dev;

	memcpy(state, &d->st, sizeof(d->st));
	note("save", d);
}

static int dummy_check(const struct dev_env *env, const void *state, char *why,
		       size_t whylen)
{
	const struct dummy_state *st = state;
	const struct dummy_arg *arg = env->arg;

	if (st->reserved)
		return snprintf(why, whylen, "reserved is %u", st->reserved),
		       -EINVAL;
	if (arg && st->value != arg->value)
		return snprintf(why, whylen, "value %u, but this one has %u",
				st->value, arg->value),
		       -EINVAL;
	return 0;
}

static int dummy_load(void *dev, const void *state)
{
	struct dummy *d = dev;

	memcpy(&d->st, state, sizeof(d->st));
	note("load", d);
	return 0;
}

static void dummy_destroy(void *dev)
{
	note("destroy", dev);
}

static const struct dev_type dummy_type = {
	.name = "dummy",
	.state_version = 3,
	.state_size = sizeof(struct dummy_state),
	.size = sizeof(struct dummy),
	.realize = dummy_realize,
	.reset = dummy_reset,
	.quiesce = dummy_quiesce,
	.save = dummy_save,
	.check = dummy_check,
	.load = dummy_load,
	.resume = dummy_resume,
	.destroy = dummy_destroy,
};

/* ---- Tests ------------------------------------------------------------- */

/* The one line that adds the device to a VM. */
static const struct dev_slot list[] = {
	{ "dummy0", &dummy_type, .res = { 0 } },
	{ "dummy1", &dummy_type, .res = { 0 }, .may_be_absent = true },
};

static int setup(void **state)
{
	calls[0] = 0;
	return 0;
}

static void make(struct dev_registry *r, const struct dev_slot *l,
		 unsigned int n)
{
	const struct dev_host host = { .vm = NULL, .console_fd = -1 };

	memset(r, 0, sizeof(*r));
	assert_int_equal(devreg_add_list(r, l, n), 0);
	assert_int_equal(devreg_realize(r, &host), 0);
}

/* Save through the stream writer, read back through the reader. */
static void test_round_trip(void **state)
{
	struct dev_registry src, dst;
	struct vmstate_rx rx;
	struct rec_error err = { 0 };
	struct rec_hdr h;
	struct stream s;
	uint8_t body[256], *buf;
	size_t len;
	char why[200];
	int records = 0;

	make(&src, list, 2);
	make(&dst, list, 2);
	assert_string_equal(calls, "realize(dummy0) reset(dummy0) "
				   "realize(dummy1) reset(dummy1) "
				   "realize(dummy0) reset(dummy0) "
				   "realize(dummy1) reset(dummy1) ");
	((struct dummy *)devreg_dev(&src, "dummy0"))->st.value = 42;
	((struct dummy *)devreg_dev(&src, "dummy0"))->st.counter = 1ULL << 40;
	stream_open_mem_write(&s);
	assert_int_equal(vmstate_save_devices(&src, &s), 0);
	buf = stream_mem_take(&s, &len);
	stream_close(&s);
	assert_int_equal(vmstate_rx_init(&rx, 1), 0);
	stream_open_mem_read(&s, buf, len);
	while (s.offset < len) {
		assert_int_equal(rec_read_hdr(&s, &h, &err), 0);
		assert_int_equal(h.type, REC_DEVICE);
		assert_int_equal(h.length, 24 + sizeof(struct dummy_state));
		assert_int_equal(rec_read_body(&s, &h, body, &err), 0);
		assert_int_equal(((struct rec_device *)body)->version, 3);
		if (vmstate_rx_add(&rx, &dst, h.type, body, h.length, 0, why,
				   sizeof(why)))
			fail_msg("%s", why);
		records++;
	}
	stream_close(&s);
	assert_int_equal(records, 2);
	assert_int_equal(vmstate_apply_devices(&rx, &dst, &err), 0);
	assert_int_equal(((struct dummy *)devreg_dev(&dst, "dummy0"))->st.value,
			 42);
	assert_int_equal(
		((struct dummy *)devreg_dev(&dst, "dummy0"))->st.counter,
		1ULL << 40);
	assert_non_null(strstr(calls, "load(dummy0) load(dummy1)"));
	vmstate_rx_free(&rx);
	free(buf);
	devreg_destroy(&src);
	devreg_destroy(&dst);
}

static void put_device(uint8_t *body, const char *id, uint32_t version,
		       uint32_t length, const struct dummy_state *st)
{
	struct rec_device d = { .version = version, .length = length };

	snprintf(d.id, sizeof(d.id), "%s", id);
	memcpy(body, &d, sizeof(d));
	memcpy(body + sizeof(d), st, sizeof(*st));
}

/* The reader asks the descriptor; it names the device and the field. */
static void test_refused(void **state)
{
	struct dev_registry r;
	struct vmstate_rx rx;
	struct dummy_state st = { .value = 1, .reserved = 5 };
	uint8_t body[64];
	char why[200];
	uint32_t n = 24 + sizeof(st);

	make(&r, list, 2);
	assert_int_equal(vmstate_rx_init(&rx, 1), 0);
	put_device(body, "dummy0", 3, sizeof(st), &st);
	assert_int_equal(vmstate_rx_add(&rx, &r, REC_DEVICE, body, n, 0, why,
					sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "device 'dummy0': reserved is 5");
	st.reserved = 0;
	put_device(body, "dummy0", 2, sizeof(st), &st);
	assert_int_equal(vmstate_rx_add(&rx, &r, REC_DEVICE, body, n, 0, why,
					sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(
		why,
		"state version 2 (16 bytes) is not supported (expected version 3, 16 bytes)"));
	put_device(body, "dummy7", 3, sizeof(st), &st);
	assert_int_equal(vmstate_rx_add(&rx, &r, REC_DEVICE, body, n, 0, why,
					sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "device 'dummy7' does not exist in this VM");
	/* dummy1 may be absent, dummy0 may not. */
	put_device(body, "dummy1", 3, sizeof(st), &st);
	assert_int_equal(vmstate_rx_add(&rx, &r, REC_DEVICE, body, n, 0, why,
					sizeof(why)),
			 0);
	assert_int_equal(vmstate_rx_add(&rx, &r, REC_DEVICE, body, n, 0, why,
					sizeof(why)),
			 -EINVAL);
	assert_string_equal(why, "second DEVICE record for 'dummy1'");
	vmstate_rx_free(&rx);
	devreg_destroy(&r);
}

/* The VM's pause hooks quiesce and resume every device, in order. */
static void test_pause_hooks(void **state)
{
	struct dev_registry r;
	struct vm vm;
	struct dummy *d0;

	memset(&vm, 0, sizeof(vm)); /* a zeroed mutex is an unlocked one */
	make(&r, list, 2);
	d0 = devreg_dev(&r, "dummy0");
	calls[0] = 0;
	devreg_hook_pause(&r, &vm);
	/* Quiet until the VM first runs. */
	assert_true(vm.pause.devices_quiet);
	assert_int_equal(d0->quiesced, 1);
	vm.pause.hooks.resuming(vm.pause.hooks.opaque);
	vm.pause.hooks.paused(vm.pause.hooks.opaque);
	assert_string_equal(calls, "quiesce(dummy0) quiesce(dummy1) "
				   "resume(dummy1) resume(dummy0) "
				   "quiesce(dummy0) quiesce(dummy1) ");
	/* Teardown's quiesce nests; a resume without a quiesce does nothing. */
	devreg_quiesce_all(&r);
	assert_int_equal(d0->quiesced, 2);
	devreg_resume_all(&r);
	devreg_resume_all(&r);
	devreg_resume_all(&r);
	assert_int_equal(d0->quiesced, 0);
	devreg_destroy(&r);
	assert_null(devreg_dev(&r, "dummy0"));
}

static void test_rules(void **state)
{
	struct dev_registry r = { .nr = 0 };
	struct dev_type partial = dummy_type;
	struct dev_slot s = { "dummy0", &dummy_type, .res = { 0 } };
	char id[DEVICE_ID_LEN];
	unsigned int i;

	assert_int_equal(devreg_add_list(&r, list, 2), 0);
	assert_int_equal(devreg_add_list(&r, list, 1), -EEXIST);
	s.id = "a-sixteen-char-i";
	assert_int_equal(devreg_add_list(&r, &s, 1), -EINVAL);
	s.id = "";
	assert_int_equal(devreg_add_list(&r, &s, 1), -EINVAL);
	/* Every member is required. */
	partial.resume = NULL;
	s = (struct dev_slot){ "partial0", &partial, .res = { 0 } };
	assert_int_equal(devreg_add_list(&r, &s, 1), -EINVAL);
	s.type = &dummy_type;
	for (i = 2; i < DEVREG_MAX; i++) {
		snprintf(id, sizeof(id), "d%u", i);
		s.id = id;
		assert_int_equal(devreg_add_list(&r, &s, 1), 0);
	}
	s.id = "one-too-many";
	assert_int_equal(devreg_add_list(&r, &s, 1), -ENOSPC);
}

/* A failed realize: destroy runs for it, quiesce never does. */
static void test_realize_fails(void **state)
{
	static const struct dev_slot bad[] = {
		{ "dummy0", &dummy_type, .res = { 0 } },
		{ "bad0", &dummy_type, .res = { 0 } },
		{ "dummy2", &dummy_type, .res = { 0 } },
	};
	const struct dev_host host = { .console_fd = -1 };
	struct dev_registry r = { .nr = 0 };

	assert_int_equal(devreg_add_list(&r, bad, 3), 0);
	assert_int_equal(devreg_realize(&r, &host), -EIO);
	devreg_quiesce_all(&r);
	devreg_destroy(&r);
	assert_string_equal(calls, "realize(dummy0) reset(dummy0) "
				   "realize(bad0) quiesce(dummy0) "
				   "destroy(bad0) destroy(dummy0) ");
}

/*
 * Devices a configuration adds come after the platform's, take virtio
 * slots 1, 2, ... in their order, and carry their argument to realize
 * and, through the reader's environment, to check.
 */
static void test_config_devices(void **state)
{
	static const struct dummy_arg a0 = { 7 }, a1 = { 9 };
	static const char *const order[] = { "serial0", "ged0", "console0",
					     "xvda", "vif-0" };
	struct platform_conf pc = { .mem_bytes = 64 << 20 };
	struct dev_registry r = { .nr = 0 }, made;
	struct dummy_state st = { .value = 7 };
	struct dev_slot s;
	struct dev_entry *e;
	struct dev_env env;
	char why[200];
	unsigned int i;

	assert_int_equal(platform_conf_add(&pc, "xvda", &dummy_type, &a0, why,
					   sizeof(why)),
			 0);
	assert_int_equal(platform_conf_add(&pc, "vif-0", &dummy_type, &a1, why,
					   sizeof(why)),
			 0);
	assert_int_equal(platform_describe_conf(&r, &pc, why, sizeof(why)), 0);
	assert_int_equal(r.nr, 5);
	for (i = 0; i < 5; i++)
		assert_string_equal(r.devs[i].id, order[i]);
	e = devreg_find(&r, "xvda");
	assert_int_equal(e->res.mmio_base, LAYOUT_VIRTIO_MMIO + 0x1000);
	assert_int_equal(e->res.gsi, LAYOUT_VIRTIO_GSI(1));
	assert_ptr_equal(e->arg, &a0);
	env = devreg_env(&r, e);
	assert_ptr_equal(env.arg, &a0);
	assert_int_equal(env.mem_bytes, 64 << 20);
	assert_int_equal(e->type->check(&env, &st, why, sizeof(why)), 0);
	e = devreg_find(&r, "vif-0");
	assert_int_equal(e->res.mmio_base, LAYOUT_VIRTIO_MMIO + 0x2000);
	assert_int_equal(e->res.gsi, LAYOUT_VIRTIO_GSI(2));
	env = devreg_env(&r, e);
	assert_int_equal(e->type->check(&env, &st, why, sizeof(why)), -EINVAL);
	assert_string_equal(why, "value 7, but this one has 9");
	/* realize gets the slot's argument too */
	s = (struct dev_slot){ .id = "xvda", .type = &dummy_type, .arg = &a0 };
	make(&made, &s, 1);
	assert_ptr_equal(((struct dummy *)devreg_dev(&made, "xvda"))->arg, &a0);
	devreg_destroy(&made);
}

/* An id the platform has, one too long, one device too many: refused. */
static void test_config_devices_refused(void **state)
{
	struct platform_conf pc = { .mem_bytes = 64 << 20 };
	struct dev_registry r = { .nr = 0 };
	char why[200], id[DEVICE_ID_LEN];
	unsigned int i;

	assert_int_equal(platform_conf_add(&pc, "console0", &dummy_type, NULL,
					   why, sizeof(why)),
			 0);
	assert_int_equal(platform_describe_conf(&r, &pc, why, sizeof(why)),
			 -EEXIST);
	assert_string_equal(
		why,
		"device id 'console0' (dummy) is already the virtio-console's");
	assert_int_equal(platform_conf_add(&pc, "sixteen-bytes-id", &dummy_type,
					   NULL, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(why,
			    "device id 'sixteen-bytes-id' is not 1-15 bytes");
	for (i = pc.nr; i < PLATFORM_CONF_DEVS_MAX; i++) {
		snprintf(id, sizeof(id), "d%u", i);
		assert_int_equal(platform_conf_add(&pc, id, &dummy_type, NULL,
						   why, sizeof(why)),
				 0);
	}
	assert_int_equal(platform_conf_add(&pc, "xvdz", &dummy_type, NULL, why,
					   sizeof(why)),
			 -ENOSPC);
	assert_string_equal(
		why,
		"too many virtio devices: at most 17 disks and NICs together");
}

#define T(fn) cmocka_unit_test_setup(fn, setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_round_trip),
		T(test_refused),
		T(test_pause_hooks),
		T(test_rules),
		T(test_realize_fails),
		T(test_config_devices),
		T(test_config_devices_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
