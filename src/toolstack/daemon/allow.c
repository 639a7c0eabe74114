/* The relocation server's allow-list of peer address expressions. */
#include "toolstack/daemon/allow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int allow_init(struct allow_list *a, const char *spec, char *why, size_t whylen)
{
	char pat[512], msg[128];
	const char *p = spec;
	size_t n;
	int r;

	a->n = 0;
	for (;;) {
		p += strspn(p, " \t\n");
		n = strcspn(p, " \t\n");
		if (!n)
			return 0;
		if (n >= sizeof(pat)) {
			snprintf(why, whylen,
				 "expression '%.40s...' is too long", p);
			return -EINVAL;
		}
		if (a->n == ALLOW_MAX) {
			snprintf(why, whylen, "more than %d expressions",
				 ALLOW_MAX);
			return -E2BIG;
		}
		memcpy(pat, p, n);
		pat[n] = 0;
		r = regcomp(&a->re[a->n], pat, REG_EXTENDED | REG_NOSUB);
		if (r) {
			/* A failed regcomp leaves nothing to free. */
			regerror(r, &a->re[a->n], msg, sizeof(msg));
			snprintf(why, whylen, "expression '%s': %s", pat, msg);
			return -EINVAL;
		}
		a->n++;
		p += n;
	}
}

void allow_destroy(struct allow_list *a)
{
	while (a->n)
		regfree(&a->re[--a->n]);
}

bool allow_match(const struct allow_list *a, const char *addr)
{
	unsigned int i;

	if (!a->n)
		return true;
	for (i = 0; i < a->n; i++)
		if (regexec(&a->re[i], addr, 0, NULL, 0) == 0)
			return true;
	return false;
}

int allow_addr_text(const struct sockaddr *sa, socklen_t len, char *buf,
		    size_t size)
{
	const struct sockaddr_in6 *s6 = (const void *)sa;
	const struct sockaddr_in *s4 = (const void *)sa;
	struct in_addr v4;

	if (sa->sa_family == AF_INET && len >= sizeof(*s4))
		return inet_ntop(AF_INET, &s4->sin_addr, buf, size) ? 0 :
								      -errno;
	if (sa->sa_family != AF_INET6 || len < sizeof(*s6))
		return -EAFNOSUPPORT;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(&v4, &s6->sin6_addr.s6_addr[12], 4);
		return inet_ntop(AF_INET, &v4, buf, size) ? 0 : -errno;
	}
	return inet_ntop(AF_INET6, &s6->sin6_addr, buf, size) ? 0 : -errno;
}
