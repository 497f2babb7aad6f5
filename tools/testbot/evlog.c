/* JSON-lines event log of the test bot: one object per event, flushed at once because tests
 * read the file while the bot runs. Thread: the lws service thread. Owns nothing but the
 * FILE it opens.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testbot.h"

#define RAW_MAX_BYTES 200

FILE *sb_tb_evlog_open(const char *path)
{
	FILE *f = fopen(path, "a");

	if (!f)
		return NULL;
	/* Full buffering plus an explicit flush per line keeps each line one write(). */
	setvbuf(f, NULL, _IOFBF, 1 << 16);
	return f;
}

static long long realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sb_tb_evlog_write(FILE *f, unsigned conn, const char *dir, json_t *fields)
{
	char *body = NULL;

	if (!f)
		return;
	if (fields)
		body = json_dumps(fields, JSON_COMPACT | JSON_PRESERVE_ORDER);
	fprintf(f, "{\"t_ms\":%lld,\"conn\":%u,\"dir\":\"%s\"", realtime_ms(), conn, dir);
	/* body is "{...}": splice its members after ours. */
	if (body && strcmp(body, "{}") != 0)
		fprintf(f, ",%s\n", body + 1);
	else
		fputs("}\n", f);
	fflush(f);
	free(body);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t want, i;

	if (p[0] < 0x80)
		return p[0] ? 1 : 0;
	if ((p[0] & 0xe0) == 0xc0 && p[0] >= 0xc2)
		want = 2;
	else if ((p[0] & 0xf0) == 0xe0)
		want = 3;
	else if ((p[0] & 0xf8) == 0xf0 && p[0] <= 0xf4)
		want = 4;
	else
		return 0;
	if (want > n)
		return 0;
	for (i = 1; i < want; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return want;
}

json_t *sb_tb_evlog_raw(const void *data, size_t len)
{
	const unsigned char *in = data;
	char out[RAW_MAX_BYTES + 1];
	size_t i = 0, o = 0, k;

	if (len > RAW_MAX_BYTES)
		len = RAW_MAX_BYTES;
	/* jansson rejects invalid UTF-8 (and NUL), and binary frames are full of both. */
	while (i < len) {
		k = utf8_seq_len(in + i, len - i);
		if (!k) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, in + i, k);
		o += k;
		i += k;
	}
	return json_stringn(out, o);
}

json_t *sb_tb_evlog_strip_payload(json_t *msg)
{
	json_t *copy, *media, *payload;

	copy = json_copy(msg);
	if (!copy)
		return NULL;
	media = json_object_get(copy, "media");
	payload = json_object_get(media, "payload");
	if (!json_is_string(payload))
		return copy;
	/* media itself is shared with msg after a shallow copy: replace it, not edit it. */
	media = json_copy(media);
	if (!media)
		return copy;
	json_object_set_new(
	        media, "payload_bytes",
	        json_integer((json_int_t)sb_tb_b64_decoded_len(json_string_value(payload))));
	json_object_del(media, "payload");
	json_object_set_new(copy, "media", media);
	return copy;
}
