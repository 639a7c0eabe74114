/* godwitd: the per-host daemon (being written). */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "godwitd: not built yet\n");
	return 1;
}
