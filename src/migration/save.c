/* Writing a stream from a paused VM. */
#include "migration/save.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "common/clock.h"
#include "format/record.h"
#include "migration/recio.h"
#include "migration/vmstate.h"
#include "vmm/vm.h"

/*
 * A random name for a new stream: two saves of one VM, even of the same
 * paused state, are two streams whose records do not chain into each
 * other. getrandom() blocks only before the kernel's pool is ready.
 */
int save_stream_id(uint8_t id_out[STREAM_ID_LEN])
{
	size_t got = 0;
	ssize_t r;

	while (got < STREAM_ID_LEN) {
		r = getrandom(id_out + got, STREAM_ID_LEN - got, 0);
		if (r < 0 && errno != EINTR)
			return -errno;
		got += r > 0 ? (size_t)r : 0;
	}
	return 0;
}

int save_header(struct stream *s, struct vm *vm, const char *config,
		uint32_t config_len, uint32_t flags)
{
	struct stream_header h;

	return save_header_get(s, vm, config, config_len, flags, &h);
}

int save_header_get(struct stream *s, struct vm *vm, const char *config,
		    uint32_t config_len, uint32_t flags,
		    struct stream_header *h_out)
{
	static const uint8_t zeros[REC_ALIGN];
	struct rec_save_info info = { .time_ns = time_real_ns() };
	uint8_t id[STREAM_ID_LEN];
	struct stream_header *h = h_out;
	struct iovec iov[3];
	int rc;

	if (!config_len || config_len > STREAM_CONFIG_MAX)
		return stream_set_error(s, -E2BIG);
	rc = save_stream_id(id);
	if (rc)
		return stream_set_error(s, rc);
	stream_header_init(h, flags, vm->mem.size, vm->nr_vcpus, vm->cpu_vendor,
			   vm->cpuid_digest, id, config, config_len);
	iov[0] = (struct iovec){ h, sizeof(*h) };
	iov[1] = (struct iovec){ (void *)config, config_len };
	iov[2] = (struct iovec){ (void *)zeros,
				 rec_padded(config_len) - config_len };
	stream_writev(s, iov, 3);
	rec_stream_start(s, h);
	strncpy(info.producer, "godwit " GODWIT_VERSION,
		sizeof(info.producer) - 1);
	return rec_write_buf(s, REC_SAVE_INFO, &info, sizeof(info));
}

int save_state(struct stream *s, struct vm *vm, struct dev_registry *devs,
	       const struct leaserec_set *leases)
{
	if (vmstate_save(vm, devs, s))
		return s->error;
	if (leases && leaserec_write(s, leases))
		return s->error;
	return rec_write_end(s);
}

int save_vm(struct stream *s, struct vm *vm, struct dev_registry *devs,
	    const char *config, uint32_t config_len,
	    const struct leaserec_set *leases, struct save_result *res)
{
	uint64_t start = time_mono_ns(), off0 = s->offset;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = save_header(s, vm, config, config_len, 0);
	if (!rc)
		rc = pages_send(s, &vm->mem, NULL, 0, &res->pages);
	if (!rc)
		rc = save_state(s, vm, devs, leases);
	res->bytes = s->offset - off0;
	res->duration_ns = time_mono_ns() - start;
	return rc;
}
