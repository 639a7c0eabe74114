/*
 * systemd readiness notification (Type=notify): sd_notify(3) when the
 * daemon is built with libsystemd, else the same datagram written to
 * $NOTIFY_SOCKET by hand. Without $NOTIFY_SOCKET nothing happens.
 */
#ifndef GODWIT_DAEMON_NOTIFY_H
#define GODWIT_DAEMON_NOTIFY_H

/* Send state ("READY=1", "STOPPING=1", ...); failures are ignored. */
void notify_send(const char *state);

#endif
