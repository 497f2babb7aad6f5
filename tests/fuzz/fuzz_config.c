/* libFuzzer target for the configuration loader: any bytes as libconfig text, validated
 * against the schema. A loaded snapshot is released; a refused one leaves an error message.
 * Single-threaded. Inputs with @include are skipped so the target reads no files. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sb/config.h>

#include "fuzz_check.h"

static void check_config(const struct sb_config *c)
{
	CHECK(atomic_load(&c->refs) == 1);
	CHECK(c->n_listen > 0 && c->listen);
	CHECK(c->rtp_port_min < c->rtp_port_max && c->rtp_port_min % 2 == 0);
	for (size_t i = 0; i < c->n_trunks; i++)
		for (size_t j = 0; j < c->trunks[i].n_routes; j++)
			CHECK(c->trunks[i].routes[j].bot &&
			      sb_config_find_bot(c, c->trunks[i].routes[j].bot->name) ==
			              c->trunks[i].routes[j].bot);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[SB_CONFIG_ERR_MAX];
	struct sb_config *c = NULL;
	char *text;
	int r;

	if (memmem(data, size, "@include", 8))
		return 0;
	text = malloc(size + 1);
	CHECK(text);
	memcpy(text, data, size);
	text[size] = '\0';
	err[0] = '\0';
	r = sb_config_load_string(&c, text, "fuzz.conf", NULL, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(c == NULL && err[0] != '\0' && memchr(err, '\0', sizeof(err)));
	} else {
		CHECK(r == 0 && c);
		check_config(c);
		c = sb_config_unref(c);
		CHECK(c == NULL);
	}
	free(text);
	return 0;
}
