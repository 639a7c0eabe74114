/*
 * Unit tests of the control protocol's messages (rpc/msg*.h): defaults,
 * ranges and their one-line errors, the destination's one parse, strict
 * commands and lenient answers, and that what one party encodes the
 * other decodes to the same struct.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/compiler.h"

#include "rpc/msg_domain.h"
#include "rpc/msg_job.h"
#include "rpc/msg_migrate.h"
#include "rpc/msg_save.h"

static char why[RPC_MSG_WHY_MAX];

static int decode(const struct rpc_msg_type *t, const char *text, void *msg)
{
	struct json_object *o = json_tokener_parse(text);
	int rc;

	assert_non_null(o);
	why[0] = 0;
	rc = rpc_msg_decode(t, o, msg, why, sizeof(why));
	json_object_put(o);
	return rc;
}

/* msg encoded and decoded again is msg. */
static void assert_round_trip(const struct rpc_msg_type *t, const void *msg)
{
	struct json_object *o = rpc_msg_encode(t, msg);
	char copy[sizeof(struct rpc_dom_info) + 64];

	assert_true(t->size <= sizeof(copy));
	assert_int_equal(rpc_msg_decode(t, o, copy, why, sizeof(why)), 0);
	assert_true(rpc_msg_equal(t, msg, copy));
	json_object_put(o);
}

static void test_migrate_defaults(void **state)
{
	struct rpc_migrate_args a;

	(void)state;
	assert_int_equal(decode(&rpc_msg_migrate, "{\"uri\": \"h\"}", &a), 0);
	assert_string_equal(a.uri, "h:8002");
	assert_string_equal(a.host, "h");
	assert_int_equal(a.port, 8002);
	assert_true(a.live);
	assert_int_equal(a.bandwidth_mibps, 0);
	assert_int_equal(a.downtime_ms, 30);
	assert_int_equal(a.max_rounds, 30);
	assert_int_equal(a.stall_timeout_ms, 8000);
	assert_int_equal(a.paused_margin_ms, 0);
	assert_int_equal(a.compress, RPC_COMPRESS_NONE);
	assert_int_equal(a.connections, 1);
	assert_string_equal(a.domain, "");
	assert_round_trip(&rpc_msg_migrate, &a);
	assert_int_equal(decode(&rpc_msg_migrate,
				"{\"uri\": \"h\", \"compress\": \"auto\", "
				"\"connections\": 16}",
				&a),
			 0);
	assert_int_equal(a.compress, RPC_COMPRESS_AUTO);
	assert_int_equal(a.connections, 16);
	assert_round_trip(&rpc_msg_migrate, &a);
}

/* Every spelling of a destination ends as one canonical uri. */
static void test_migrate_destination(void **state)
{
	static const struct {
		const char *args, *uri, *host;
		int port;
	} ok[] = {
		{ "{\"uri\": \"tcp:10.0.0.2:7000\"}", "10.0.0.2:7000",
		  "10.0.0.2", 7000 },
		{ "{\"uri\": \"[::1]:9\"}", "[::1]:9", "::1", 9 },
		{ "{\"uri\": \"[fe80::1]\"}", "[fe80::1]:8002", "fe80::1",
		  8002 },
		{ "{\"host\": \"b\", \"port\": 99}", "b:99", "b", 99 },
		{ "{\"host\": \"::1\"}", "[::1]:8002", "::1", 8002 },
	};
	struct rpc_migrate_args a;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(decode(&rpc_msg_migrate, ok[i].args, &a), 0);
		assert_string_equal(a.uri, ok[i].uri);
		assert_string_equal(a.host, ok[i].host);
		assert_int_equal(a.port, ok[i].port);
		/* What godwitd forwards decodes the same in the VMM. */
		assert_round_trip(&rpc_msg_migrate, &a);
	}
}

/* ssh: the host as ssh takes it, the remote command's default. */
static void test_migrate_ssh(void **state)
{
	struct rpc_migrate_args a;

	(void)state;
	assert_int_equal(decode(&rpc_msg_migrate,
				"{\"uri\": \"ssh:root@10.0.0.2\"}", &a),
			 0);
	assert_string_equal(a.ssh, "ssh");
	assert_string_equal(a.uri, "root@10.0.0.2");
	assert_string_equal(a.host, "root@10.0.0.2");
	assert_int_equal(a.port, 0);
	assert_string_equal(a.receive_command, RPC_RECEIVE_COMMAND_DEFAULT);
	assert_round_trip(&rpc_msg_migrate, &a);
	assert_int_equal(decode(&rpc_msg_migrate,
				"{\"uri\": \"b\", \"ssh\": \"ssh -p 2\", "
				"\"receive-command\": \"gw migrate-receive "
				"--stdio\"}",
				&a),
			 0);
	assert_string_equal(a.ssh, "ssh -p 2");
	assert_string_equal(a.uri, "b");
	assert_string_equal(a.receive_command, "gw migrate-receive --stdio");
	assert_round_trip(&rpc_msg_migrate, &a);
}

static void assert_refused(const struct rpc_msg_type *t, const char *args,
			   const char *expect)
{
	char buf[sizeof(struct rpc_dom_info) + 64];

	assert_int_equal(decode(t, args, buf), -EINVAL);
	assert_string_equal(why, expect);
}

static void test_migrate_refused(void **state)
{
	(void)state;
	assert_refused(&rpc_msg_migrate, "{}",
		       "migrate: 'uri' (HOST[:PORT]) is required");
	assert_refused(&rpc_msg_migrate, "{\"host\": \"h\", \"port\": 70000}",
		       "migrate: 'port' must be an integer from 1 to 65535");
	assert_refused(&rpc_msg_migrate, "{\"uri\": \"h\", \"host\": \"h\"}",
		       "migrate: give 'uri' or 'host' and 'port', not both");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"a:b:c\"}",
		"migrate: bad destination 'a:b:c' (expected HOST[:PORT] or tcp:HOST:PORT)");
	/* fuzz_msg: "[R" as a host was made "[R:8002", which reads as none. */
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"[[R]\"}",
		"migrate: bad destination '[[R]' (expected HOST[:PORT] or tcp:HOST:PORT)");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"max-rounds\": 0}",
		"migrate: 'max-rounds' must be an integer from 1 to 10000");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"stall-timeout-ms\": 99}",
		"migrate: 'stall-timeout-ms' must be an integer from 100 to 3600000");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"downtime-ms\": 1.5}",
		"migrate: 'downtime-ms' must be an integer from 0 to 3600000");
	assert_refused(&rpc_msg_migrate, "{\"uri\": \"h\", \"live\": 1}",
		       "migrate: 'live' must be true or false");
	assert_refused(
		&rpc_msg_migrate,
		"{\"uri\": \"h\", \"connections\": 2, \"postcopy\": true}",
		"migrate: 'connections' above 1 does not go with post-copy");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"connections\": 17}",
		"migrate: 'connections' must be an integer from 1 to 16");
	assert_refused(&rpc_msg_migrate, "{\"uri\": 5}",
		       "migrate: 'uri' must be a string");
	/* A command's unknown member is a typo, not something to ignore. */
	assert_refused(&rpc_msg_migrate, "{\"uri\": \"h\", \"downtime\": 5}",
		       "migrate: unknown member 'downtime'");
	assert_refused(&rpc_msg_migrate, "[1]", "migrate: not an object");
	/* A host is given to a shell: nothing it could misread. */
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"ssh:h;reboot\"}",
		"migrate: bad ssh destination 'h;reboot' (expected [USER@]HOST, no :PORT, no TLS)");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"-oX=y\", \"ssh\": \"ssh\"}",
		"migrate: bad ssh destination '-oX=y' (expected [USER@]HOST, no :PORT, no TLS)");
	assert_refused(
		&rpc_msg_migrate,
		"{\"uri\": \"h\", \"tls\": true, \"postcopy\": true}",
		"migrate: post-copy is not available over ssh or TLS (its page connections would be plain TCP)");
	/* ssh takes no :PORT, and ssh:ssh:h would not read back the same. */
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"ssh:h:22\"}",
		"migrate: bad ssh destination 'h:22' (expected [USER@]HOST, no :PORT, no TLS)");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"ssh:ssh:\"}",
		"migrate: bad ssh destination 'ssh:' (expected [USER@]HOST, no :PORT, no TLS)");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"ssh:h\", \"tls\": true}",
		"migrate: bad ssh destination 'h' (expected [USER@]HOST, no :PORT, no TLS)");
}

/*
 * godwit's members are optional (the VMM's migration parameters fill
 * the rest); a migrate with none is QEMU's, whose members are read and
 * never forwarded; block migration and resume are refused with why.
 */
static void test_migrate_qemu(void **state)
{
	struct rpc_migrate_args a;
	struct json_object *o;

	(void)state;
	assert_int_equal(decode(&rpc_msg_migrate, "{\"uri\": \"h\"}", &a), 0);
	assert_false(rpc_migrate_has_own(&a));
	assert_int_equal(
		decode(&rpc_msg_migrate,
		       "{\"uri\": \"tcp:h:4\", \"blk\": false, \"inc\": false, \"detach\": true, \"resume\": false}",
		       &a),
		0);
	assert_false(rpc_migrate_has_own(&a));
	o = rpc_msg_encode(&rpc_msg_migrate, &a);
	assert_string_equal(json_object_to_json_string(o),
			    "{ \"uri\": \"h:4\" }");
	json_object_put(o);
	assert_int_equal(decode(&rpc_msg_migrate,
				"{\"uri\": \"h\", \"downtime-ms\": 7}", &a),
			 0);
	assert_true(rpc_migrate_has_own(&a) && a.has_downtime);
	assert_false(a.has_bandwidth);
	assert_round_trip(&rpc_msg_migrate, &a);
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"blk\": true}",
		"migrate: block migration ('blk', 'inc') is not supported by godwit: each host opens the disk images itself (shared storage)");
	assert_refused(
		&rpc_msg_migrate, "{\"uri\": \"h\", \"resume\": true}",
		"migrate: 'resume' (QEMU's post-copy recovery) is not supported: godwit's is migrate-recover");
	assert_refused(&rpc_msg_migrate, "{\"uri\": \"h\", \"detach\": 1}",
		       "migrate: 'detach' must be true or false");
}

/* The CLI fills the struct by hand; the check canonicalises it. */
static void test_migrate_by_hand(void **state)
{
	struct rpc_migrate_args a;

	(void)state;
	rpc_msg_init(&rpc_msg_migrate, &a);
	snprintf(a.uri, sizeof(a.uri), "tcp:example.org:1234");
	a.max_rounds = 5;
	a.has_max_rounds = true;
	assert_int_equal(rpc_msg_check(&rpc_msg_migrate, &a, why, sizeof(why)),
			 0);
	assert_string_equal(a.uri, "example.org:1234");
	assert_int_equal(a.port, 1234);
	a.max_rounds = 0;
	assert_int_equal(rpc_msg_check(&rpc_msg_migrate, &a, why, sizeof(why)),
			 -EINVAL);
	assert_string_equal(
		why,
		"migrate: 'max-rounds' must be an integer from 1 to 10000");
}

static void test_resolve(void **state)
{
	struct rpc_resolve_args r;

	(void)state;
	assert_int_equal(
		decode(&rpc_msg_resolve, "{\"action\": \"discard\"}", &r), 0);
	assert_int_equal(r.action, RPC_RESOLVE_DISCARD);
	assert_refused(
		&rpc_msg_resolve, "{\"action\": \"maybe\"}",
		"migrate-resolve: 'action' must be \"resume-here\" or \"discard\"");
	assert_refused(&rpc_msg_resolve, "{}",
		       "migrate-resolve: 'action' is required");
}

/* --converge and --postcopy: the policy's words, and their one conflict. */
static void test_migrate_converge(void **state)
{
	struct rpc_migrate_args a;
	int c;

	(void)state;
	assert_int_equal(decode(&rpc_msg_migrate, "{\"uri\": \"h\"}", &a), 0);
	assert_false(a.has_converge);
	assert_false(a.postcopy);
	assert_int_equal(decode(&rpc_msg_migrate,
				"{\"uri\": \"h\", \"converge\": \"auto\", "
				"\"postcopy\": true}",
				&a),
			 0);
	assert_true(a.has_converge);
	assert_int_equal(a.converge, RPC_CONVERGE_AUTO);
	assert_true(a.postcopy);
	assert_round_trip(&rpc_msg_migrate, &a);
	assert_refused(
		&rpc_msg_migrate,
		"{\"uri\": \"h\", \"converge\": \"none\", \"postcopy\": true}",
		"migrate: postcopy and converge 'none' contradict each other");
	assert_refused(
		&rpc_msg_migrate,
		"{\"uri\": \"h\", \"converge\": \"sometimes\"}",
		"migrate: 'converge' must be \"throttle\", \"postcopy\", \"auto\" or \"none\"");
	assert_int_equal(rpc_converge_parse("postcopy", &c), 0);
	assert_int_equal(c, RPC_CONVERGE_POSTCOPY);
	assert_int_equal(rpc_converge_parse("Throttle", &c), -EINVAL);
	assert_string_equal(rpc_converge_name(RPC_CONVERGE_NONE), "none");
}

/* migrate-recover: an optional source; strict like every command. */
static void test_recover(void **state)
{
	struct rpc_recover_args a;

	(void)state;
	assert_int_equal(decode(&rpc_msg_recover, "{}", &a), 0);
	assert_string_equal(a.uri, "");
	assert_int_equal(
		decode(&rpc_msg_recover,
		       "{\"domain\": \"vm\", \"uri\": \"10.0.0.1:8002\"}", &a),
		0);
	assert_string_equal(a.uri, "10.0.0.1:8002");
	assert_round_trip(&rpc_msg_recover, &a);
	assert_refused(&rpc_msg_recover, "{\"host\": \"h\"}",
		       "migrate-recover: unknown member 'host'");
}

/* Post-copy's statuses and figures, and the throttle, go both ways. */
static void test_migration_postcopy(void **state)
{
	struct rpc_migration m;
	struct rpc_mig_round r;
	struct rpc_job_info j;

	(void)state;
	assert_int_equal(decode(&rpc_msg_migration,
				"{\"status\": \"postcopy-paused\", "
				"\"postcopy-faults\": 7}",
				&m),
			 0);
	assert_int_equal(m.status, RPC_MIG_POSTCOPY_PAUSED);
	assert_true(m.has_postcopy_faults);
	assert_int_equal(m.postcopy_faults, 7);
	assert_false(m.has_postcopy_time);
	assert_string_equal(rpc_mig_status_name(RPC_MIG_POSTCOPY_ACTIVE),
			    "postcopy-active");
	assert_string_equal(rpc_mig_status_name(RPC_MIG_STOPPED), "stopped");
	m.status = RPC_MIG_POSTCOPY_ACTIVE;
	m.cpu_throttle_pct = 60;
	m.has_postcopy_time = true;
	m.postcopy_ms = 12.5;
	assert_round_trip(&rpc_msg_migration, &m);
	/* A post-copy still running is a job still running. */
	rpc_job_info_from_migration(&j, &m, "h:8002");
	assert_int_equal(j.type, RPC_JOB_UNBOUNDED);
	assert_true(j.has_cpu_throttle);
	assert_int_equal(j.cpu_throttle_pct, 60);
	assert_round_trip(&rpc_msg_job_info, &j);
	assert_refused(
		&rpc_msg_migration, "{\"cpu-throttle-percentage\": 101}",
		"MIGRATION: 'cpu-throttle-percentage' must be an integer from 0 to 100");
	assert_int_equal(
		decode(&rpc_msg_mig_round,
		       "{\"round\": 2, \"cpu-throttle-percentage\": 30}", &r),
		0);
	assert_int_equal(r.cpu_throttle_pct, 30);
}

static void test_migration_event(void **state)
{
	struct rpc_migration m;
	struct json_object *o;

	(void)state;
	rpc_msg_init(&rpc_msg_migration, &m);
	m.status = RPC_MIG_COMPLETED;
	m.total_time_ms = 812.5;
	m.rounds = 4;
	m.bytes = 1 << 20;
	o = rpc_msg_encode(&rpc_msg_migration, &m);
	assert_string_equal(
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
		"{\"status\":\"completed\",\"total-time-ms\":812.5,\"rounds\":4,\"bytes\":1048576,\"postcopy\":false,\"cpu-throttle-percentage\":0}");
	json_object_put(o);
	m.has_downtime = true;
	m.downtime_ms = 3.25;
	m.has_ram = true;
	m.ram.total = 4096;
	m.has_round = true;
	m.round = 3;
	assert_round_trip(&rpc_msg_migration, &m);
	/* Answers are lenient: a newer peer's members are ignored, missing
	 * ones keep their defaults. */
	assert_int_equal(decode(&rpc_msg_migration,
				"{\"status\": \"unconfirmed\", \"new\": 1}",
				&m),
			 0);
	assert_int_equal(m.status, RPC_MIG_UNCONFIRMED);
	assert_false(m.has_downtime);
	assert_refused(
		&rpc_msg_migration, "{\"ram\": {\"total\": \"x\"}}",
		"MIGRATION: 'ram': ram: 'total' must be an integer from 0 to 9223372036854775807");
}

static void test_save(void **state)
{
	struct rpc_save_args a;
	struct rpc_save_result r;

	(void)state;
	assert_int_equal(decode(&rpc_msg_save, "{\"file\": \"/s\"}", &a), 0);
	assert_false(a.keep_running || a.leave_paused);
	assert_int_equal(a.stall_timeout_ms, 8000);
	assert_refused(
		&rpc_msg_save,
		"{\"file\": \"/s\", \"continue\": true, \"paused\": true}",
		"save: 'continue' and 'paused' exclude each other");
	assert_refused(&rpc_msg_save, "{}", "save: 'file' is required");
	assert_refused(&rpc_msg_save, "{\"file\": \"\"}",
		       "save: 'file' must not be empty");
	assert_refused(&rpc_msg_save, "{\"file\": \"a\\u0000b\"}",
		       "save: 'file' holds a NUL byte");
	assert_refused(&rpc_msg_restore, "{\"file\": \"rel\"}",
		       "restore: 'file' (an absolute path) is required");
	rpc_msg_init(&rpc_msg_save_result, &r);
	r.status = RPC_SAVE_FAILED;
	snprintf(r.error, sizeof(r.error), "disk full");
	assert_round_trip(&rpc_msg_save_result, &r);
}

static void test_job_info(void **state)
{
	struct rpc_migration q;
	struct rpc_save_result s;
	struct rpc_job_info j;

	(void)state;
	rpc_msg_init(&rpc_msg_migration, &q);
	q.status = RPC_MIG_ACTIVE;
	q.has_ram = q.has_round = true;
	q.ram.transferred = 100;
	q.ram.total = 400;
	q.round = 2;
	rpc_job_info_from_migration(&j, &q, "h:8002");
	assert_int_equal(j.type, RPC_JOB_UNBOUNDED);
	assert_string_equal(j.operation, "outgoing migration");
	assert_true(j.has_memory_total && j.memory_total == 400);
	assert_true(j.has_iteration && j.iteration == 2);
	assert_false(j.has_downtime);
	assert_round_trip(&rpc_msg_job_info, &j);
	rpc_msg_init(&rpc_msg_save_result, &s);
	s.status = RPC_SAVE_COMPLETED;
	s.bytes = 77;
	rpc_job_info_from_save(&j, &s, "/f", 1 << 20);
	assert_int_equal(j.type, RPC_JOB_COMPLETED);
	assert_true(j.has_data_processed && j.data_processed == 77);
	assert_false(j.has_iteration);
	assert_round_trip(&rpc_msg_job_info, &j);
}

static void test_domain_messages(void **state)
{
	struct rpc_create_args c;
	struct rpc_dom_info d;
	struct rpc_vmm_ended e;
	struct rpc_event_origin org;
	struct json_object *o;

	(void)state;
	assert_int_equal(decode(&rpc_msg_create,
				"{\"config\": \"name='a'\", \"overrides\": "
				"[\"memory=64\", \"vcpus=2\"]}",
				&c),
			 -0);
	assert_int_equal(c.nr_overrides, 2);
	assert_refused(&rpc_msg_create,
		       "{\"config\": \"x\", \"overrides\": [1]}",
		       "create: 'overrides' must be a list of strings");
	assert_refused(&rpc_msg_dom, "{}", "domain: 'domain' is required");
	assert_refused(&rpc_msg_dom, "{\"domain\": \"\"}",
		       "domain: 'domain' must not be empty");
	rpc_msg_init(&rpc_msg_dom_info, &d);
	snprintf(d.name, sizeof(d.name), "web");
	d.nr_disks = 2;
	snprintf(d.disks[1].vdev, sizeof(d.disks[1].vdev), "xvdb");
	d.nr_vifs = 2;
	snprintf(d.vifs[0].mac, sizeof(d.vifs[0].mac), "00:16:3e:01:02:03");
	snprintf(d.vifs[0].bridge, sizeof(d.vifs[0].bridge), "br0");
	snprintf(d.vifs[1].vifname, sizeof(d.vifs[1].vifname), "web0");
	assert_round_trip(&rpc_msg_dom_info, &d);
	/* A list entry without vifs (no NICs) has none. */
	assert_int_equal(decode(&rpc_msg_dom_info, "{\"name\": \"a\"}", &d), 0);
	assert_int_equal(d.nr_vifs, 0);
	assert_int_equal(decode(&rpc_msg_vmm_ended,
				"{\"end\": \"killed\", \"status\": -9, "
				"\"domain\": \"web\", \"domid\": 3}",
				&e),
			 0);
	assert_int_equal(e.status, -9);
	o = json_tokener_parse("{\"domain\": \"web\", \"domid\": 3}");
	rpc_event_origin_get(o, &org);
	assert_string_equal(org.domain, "web");
	assert_int_equal(org.domid, 3);
	json_object_put(o);
	rpc_event_origin_get(NULL, &org);
	assert_int_equal(org.domid, -1);
	/* What godwitd adds is what the library reads. */
	o = json_object_new_object();
	org.domid = 12;
	snprintf(org.domain, sizeof(org.domain), "db");
	rpc_event_origin_set(o, &org);
	rpc_event_origin_get(o, &org);
	assert_string_equal(org.domain, "db");
	assert_int_equal(org.domid, 12);
	json_object_put(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_migrate_defaults),
		cmocka_unit_test(test_migrate_destination),
		cmocka_unit_test(test_migrate_ssh),
		cmocka_unit_test(test_migrate_refused),
		cmocka_unit_test(test_migrate_qemu),
		cmocka_unit_test(test_migrate_by_hand),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_migration_event),
		cmocka_unit_test(test_migrate_converge),
		cmocka_unit_test(test_recover),
		cmocka_unit_test(test_migration_postcopy),
		cmocka_unit_test(test_save),
		cmocka_unit_test(test_job_info),
		cmocka_unit_test(test_domain_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
