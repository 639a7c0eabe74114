/*
 * godwitd's own configuration, /etc/godwit/godwitd.conf: what the host
 * does with its domains, in the xl.cfg syntax (KEY = VALUE, # comments).
 * An unknown key or value is an error naming file, line and key: a
 * daemon that misreads its host policy would act on the wrong one.
 *
 *   on_host_stop = "keep"   godwitd stops, its domains keep running
 *                           (the next godwitd adopts them); the default
 *   on_host_stop = "save"   godwitd saves every running domain (managed
 *                           save, in parallel) before it exits, and
 *                           restores them when it starts again
 */
#ifndef GODWIT_CONFIG_HOST_CONFIG_H
#define GODWIT_CONFIG_HOST_CONFIG_H

#include <stddef.h>

#include "common/compiler.h"
#include "config/domain_config.h"

#define HOST_CONFIG_FILE_DEFAULT "/etc/godwit/godwitd.conf"

enum host_on_stop {
	HOST_ON_STOP_KEEP,
	HOST_ON_STOP_SAVE,
};

struct host_config {
	enum host_on_stop on_host_stop;
};

void host_config_init(struct host_config *h);
/* Parse len bytes named file; -EINVAL with diag->error; h unchanged. */
int host_config_parse(const char *file, const char *text, size_t len,
		      struct host_config *h,
		      struct config_diag *diag) __must_check;
/*
 * host_config_parse() of the file at path. A missing file is the
 * defaults when missing_ok (the default path), else an error.
 */
int host_config_load(const char *path, bool missing_ok, struct host_config *h,
		     struct config_diag *diag) __must_check;
const char *host_on_stop_name(enum host_on_stop v);

#endif
