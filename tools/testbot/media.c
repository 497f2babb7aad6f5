/* Audio of the test bot: G.711 µ-law, recording received caller audio as PCM16 LE whatever the
 * protocol carried it as, echo mode, and the paced sine of tone mode. Thread: the lws service
 * thread. Owns each connection's recording fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sb/common.h>

#include "testbot.h"

#define TONE_CHUNK_US 100000
#define TONE_AMPLITUDE 8000.0
#define ULAW_BIAS 0x84

/* G.711 µ-law as spandsp (and so the bridge) computes it. */
uint8_t sb_tb_ulaw_encode(int16_t pcm)
{
	int v = pcm, mask, seg;

	if (v < 0) {
		v = ULAW_BIAS - v - 1;
		mask = 0x7f;
	} else {
		v = ULAW_BIAS + v;
		mask = 0xff;
	}
	/* The segment is the position of the top bit above bit 7. */
	seg = 31 - __builtin_clz((unsigned)(v | 0xff)) - 7;
	if (seg >= 8)
		return (uint8_t)(0x7f ^ mask);
	return (uint8_t)(((seg << 4) | ((v >> (seg + 3)) & 0x0f)) ^ mask);
}

int16_t sb_tb_ulaw_decode(uint8_t ulaw)
{
	int t;

	ulaw = (uint8_t)~ulaw;
	t = (((ulaw & 0x0f) << 3) + ULAW_BIAS) << ((ulaw & 0x70) >> 4);
	return (int16_t)((ulaw & 0x80) ? (ULAW_BIAS - t) : (t - ULAW_BIAS));
}

void sb_tb_tone_fill(int16_t *out, size_t n, double *phase, double hz, double rate,
                     double amplitude)
{
	double step = 2.0 * M_PI * hz / rate;
	double ph = *phase;
	size_t i;

	for (i = 0; i < n; i++) {
		out[i] = (int16_t)lrint(amplitude * sin(ph));
		ph += step;
		if (ph >= 2.0 * M_PI)
			ph -= 2.0 * M_PI;
	}
	*phase = ph;
}

size_t sb_tb_b64_decoded_len(const char *s)
{
	return sb_tb_b64_decoded_len_n(s, strlen(s));
}

size_t sb_tb_b64_decoded_len_n(const char *s, size_t n)
{
	while (n && (s[n - 1] == '=' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	return n * 3 / 4;
}

/* Opens DIR/<sid>.raw; characters that would leave DIR become '_'. */
static int record_open(struct sb_tb_conn *c)
{
	char path[PATH_MAX], name[SB_TB_SID_MAX];
	size_t i;

	for (i = 0; c->sid[i] && i < sizeof(name) - 1; i++)
		name[i] = c->sid[i] == '/' ? '_' : c->sid[i];
	name[i] = '\0';
	if (!i || name[0] == '.')
		name[0] = '_';
	if (!i)
		name[1] = '\0';
	snprintf(path, sizeof(path), "%s/%s.raw", c->app->record_dir, name);
	c->rec_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (c->rec_fd < 0) {
		fprintf(stderr, "testbot: cannot open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	return 0;
}

static void record(struct sb_tb_conn *c, const void *pcm, size_t len)
{
	ssize_t n;

	if (c->rec_fd < 0 && record_open(c) < 0)
		return;
	n = write(c->rec_fd, pcm, len);
	if (n < 0 || (size_t)n != len)
		fprintf(stderr, "testbot: short write to recording: %s\n", strerror(errno));
}

/* Twilio's µ-law is recorded decoded, so every protocol's recording is PCM16 LE. */
static void record_ulaw(struct sb_tb_conn *c, const uint8_t *ulaw, size_t n)
{
	uint8_t *pcm = malloc(n * 2 + 1);
	int16_t v;
	size_t i;

	if (!pcm)
		return;
	for (i = 0; i < n; i++) {
		v = sb_tb_ulaw_decode(ulaw[i]);
		pcm[2 * i] = (uint8_t)((uint16_t)v & 0xff);
		pcm[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
	}
	record(c, pcm, n * 2);
	free(pcm);
}

static void record_b64(struct sb_tb_conn *c, const char *b64)
{
	size_t cap = strlen(b64) * 3 / 4 + 4;
	uint8_t *data = malloc(cap);
	int n;

	if (!data)
		return;
	n = lws_b64_decode_string(b64, (char *)data, (int)cap);
	if (n > 0 && c->app->proto == SB_TB_PROTO_TWILIO)
		record_ulaw(c, data, (size_t)n);
	else if (n > 0)
		record(c, data, (size_t)n);
	free(data);
}

/* The payload goes back as it came: PCM for Exotel, µ-law for Twilio. */
static void echo(struct sb_tb_conn *c, json_t *payload)
{
	const char *key = c->app->proto == SB_TB_PROTO_TWILIO ? "streamSid" : "stream_sid";
	json_t *obj = json_pack("{s:s,s:s,s:{s:O}}", "event", "media", key, c->sid, "media",
	                        "payload", payload);

	if (obj)
		sb_tb_send_json(c, obj);
	json_decref(obj);
}

void sb_tb_on_media(struct sb_tb_conn *c, json_t *msg)
{
	json_t *payload = json_object_get(json_object_get(msg, "media"), "payload");

	if (!json_is_string(payload))
		return;
	if (c->app->arrivals) {
		size_t bytes = sb_tb_b64_decoded_len(json_string_value(payload));
		/* Twilio carries 8-bit mu-law, Exotel 16-bit PCM. */
		sb_tb_arrivals_media(c, c->app->proto == SB_TB_PROTO_TWILIO ? bytes : bytes / 2);
	}
	/* Recording takes everything, even before start, so a test sees what was sent. */
	if (c->app->record_dir && c->sid[0])
		record_b64(c, json_string_value(payload));
	if (c->started && c->app->mode == SB_TB_MODE_ECHO)
		echo(c, payload);
}

void sb_tb_on_audio(struct sb_tb_conn *c, const void *data, size_t len)
{
	sb_tb_arrivals_media(c, len / 2);
	if (c->app->record_dir && c->sid[0])
		record(c, data, len);
	if (c->started && c->app->mode == SB_TB_MODE_ECHO)
		sb_tb_send_binary(c, data, len);
}

static void tone_send_chunk(struct sb_tb_conn *c)
{
	size_t samples = c->sample_rate / 10, chunk = sb_tb_default_chunk(c);
	size_t per_tick = (samples * sizeof(int16_t) + chunk - 1) / chunk;
	int16_t *pcm;

	/* A client that stops reading must not make the queue grow without bound. */
	if (c->txq_count >= SB_TB_TONE_MAX_QUEUED * per_tick)
		return;
	pcm = malloc(samples * sizeof(*pcm));
	if (!pcm)
		return;
	sb_tb_tone_fill(pcm, samples, &c->tone_phase, c->app->tone_hz, c->sample_rate,
	                TONE_AMPLITUDE);
	sb_tb_send_pcm(c, (const uint8_t *)pcm, samples * sizeof(*pcm), chunk, SB_TB_KEY_AUTO);
	free(pcm);
}

static void tone_arm(struct sb_tb_conn *c)
{
	int64_t wait_us;

	c->tone_next_us += TONE_CHUNK_US;
	wait_us = c->tone_next_us - sb_now_us();
	/* Pace on absolute deadlines so timer latency does not accumulate into drift. */
	sb_tb_set_timer(c, wait_us > 0 ? wait_us : 1);
}

void sb_tb_tone_start(struct sb_tb_conn *c)
{
	c->tone_next_us = sb_now_us();
	tone_send_chunk(c);
	tone_arm(c);
}

void sb_tb_tone_tick(struct sb_tb_conn *c)
{
	if (c->close_code)
		return;
	tone_send_chunk(c);
	tone_arm(c);
}
