/* WAV files of sipbridge-call: the --play file is checked (RIFF/WAVE, PCM 16-bit, mono,
 * 8000 Hz, a bounded size) and read whole; the --record file is written as it goes and its
 * sizes are fixed when it is closed. Thread: main. Owns the recording's FILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sb/common.h>

#include "call.h"

#define HEADER_BYTES 44
#define MAX_DATA_BYTES ((size_t)SB_CL_WAV_MAX_SECONDS * SB_RATE_8K * 2)
/* Room for the header chunks (LIST, fact, ...) besides the audio. */
#define MAX_FILE_BYTES (MAX_DATA_BYTES + 1024 * 1024)
#define FMT_PCM 1
#define FMT_EXTENSIBLE 0xFFFE

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

SB_PRINTF(3, 4) static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The fmt chunk: PCM (or extensible with the PCM sub-format), 16-bit, mono, 8000 Hz. */
static int check_fmt(const uint8_t *p, uint32_t size, char *err, size_t es)
{
	uint16_t format, channels, bits;
	uint32_t rate;

	if (size < 16)
		return fail(err, es, "its fmt chunk is too short");
	format = le16(p);
	channels = le16(p + 2);
	rate = le32(p + 4);
	bits = le16(p + 14);
	if (format == FMT_EXTENSIBLE && size >= 40)
		format = le16(p + 24); /* the sub-format GUID starts with the format code */
	if (format != FMT_PCM)
		return fail(err, es, "format %u is not PCM (need 8000 Hz mono 16-bit PCM)", format);
	if (bits != 16)
		return fail(err, es, "%u-bit samples, need 16-bit", bits);
	if (channels != 1)
		return fail(err, es, "%u channels, need mono", channels);
	if (rate != SB_RATE_8K)
		return fail(err, es, "%u Hz, need 8000 Hz", rate);
	return 0;
}

int sb_cl_wav_parse(const uint8_t *buf, size_t len, size_t *pcm_off, size_t *n_samples, char *err,
                    size_t err_size)
{
	size_t off = 12;
	bool have_fmt = false;

	if (len < 12 || memcmp(buf, "RIFF", 4) || memcmp(buf + 8, "WAVE", 4))
		return fail(err, err_size, "not a WAV file (no RIFF/WAVE header)");
	while (len - off >= 8) {
		uint32_t size = le32(buf + off + 4);
		const uint8_t *body = buf + off + 8;
		size_t avail = len - off - 8;
		int r;

		if (!memcmp(buf + off, "fmt ", 4)) {
			if (size > avail)
				return fail(err, err_size, "its fmt chunk is cut short");
			r = check_fmt(body, size, err, err_size);
			if (r < 0)
				return r;
			have_fmt = true;
		} else if (!memcmp(buf + off, "data", 4)) {
			if (!have_fmt)
				return fail(err, err_size,
				            "its data chunk comes before the fmt chunk");
			/* A stream writer leaves the size 0 or 0xFFFFFFFF: the rest of the file. */
			if (size == 0 || size == 0xFFFFFFFFu)
				size = (uint32_t)(avail < UINT32_MAX ? avail : UINT32_MAX);
			else if (size > avail)
				return fail(
				        err, err_size,
				        "it is cut short (%u bytes of audio announced, %zu there)",
				        size, avail);
			if (size / 2 == 0)
				return fail(err, err_size, "it holds no audio");
			*pcm_off = off + 8;
			*n_samples = size / 2;
			return 0;
		}
		if (size > avail)
			break;
		off += 8 + (size_t)size + (size & 1); /* chunks are padded to even sizes */
		if (off > len)
			break;
	}
	return fail(err, err_size, have_fmt ? "it has no data chunk" : "it has no fmt chunk");
}

/* Reads the whole file, bounded; 0 or -errno / -EFBIG. */
static int read_all(const char *path, uint8_t **out, size_t *len, char *err, size_t es)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		int e = errno ? errno : EIO;

		snprintf(err, es, "cannot read it: %s", strerror(e));
		return -e;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, es, "not a regular file");
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		close(fd);
		snprintf(err, es, "too large (%lld bytes; at most %d s of audio)",
		         (long long)st.st_size, SB_CL_WAV_MAX_SECONDS);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return fail(err, es, "out of memory");
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, es, "cannot read it: %s",
			         n < 0 ? strerror(errno) : "short read");
			free(buf);
			close(fd);
			return -EIO;
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

int sb_cl_wav_load(const char *path, int16_t **pcm, size_t *n_samples, char *err, size_t err_size)
{
	uint8_t *buf = NULL;
	size_t len = 0, off, n;
	int16_t *out;
	int r;

	r = read_all(path, &buf, &len, err, err_size);
	if (r < 0)
		return r;
	r = sb_cl_wav_parse(buf, len, &off, &n, err, err_size);
	if (r == 0 && n > MAX_DATA_BYTES / 2)
		r = fail(err, err_size, "longer than %d s", SB_CL_WAV_MAX_SECONDS);
	if (r < 0) {
		free(buf);
		return r;
	}
	out = malloc(n * sizeof(*out));
	if (!out) {
		free(buf);
		return fail(err, err_size, "out of memory");
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (int16_t)le16(buf + off + 2 * i);
	free(buf);
	*pcm = out;
	*n_samples = n;
	return 0;
}

static void header(uint8_t *h, uint32_t data_bytes)
{
	memcpy(h, "RIFF", 4);
	put32(h + 4, 36 + data_bytes);
	memcpy(h + 8, "WAVEfmt ", 8);
	put32(h + 16, 16);
	put16(h + 20, FMT_PCM);
	put16(h + 22, 1);
	put32(h + 24, SB_RATE_8K);
	put32(h + 28, SB_RATE_8K * 2);
	put16(h + 32, 2);
	put16(h + 34, 16);
	memcpy(h + 36, "data", 4);
	put32(h + 40, data_bytes);
}

int sb_cl_wav_create(struct sb_cl_wav_writer *w, const char *path)
{
	uint8_t h[HEADER_BYTES];

	*w = (struct sb_cl_wav_writer){0};
	w->f = fopen(path, "wbe");
	if (!w->f)
		return -errno;
	header(h, 0);
	if (fwrite(h, sizeof(h), 1, w->f) != 1) {
		int r = -errno;

		fclose(w->f);
		w->f = NULL;
		return r ? r : -EIO;
	}
	return 0;
}

void sb_cl_wav_write(struct sb_cl_wav_writer *w, const int16_t *pcm, size_t n)
{
	uint8_t buf[2 * 160];

	/* The RIFF sizes are 32-bit: past that the file stops growing. */
	if (!w->f || w->failed || (w->samples + n) * 2 > UINT32_MAX - HEADER_BYTES)
		return;
	while (n) {
		size_t k = n < 160 ? n : 160;

		for (size_t i = 0; i < k; i++)
			put16(buf + 2 * i, (uint16_t)pcm[i]);
		if (fwrite(buf, 2, k, w->f) != k) {
			w->failed = true;
			return;
		}
		w->samples += k;
		pcm += k;
		n -= k;
	}
}

int sb_cl_wav_close(struct sb_cl_wav_writer *w)
{
	uint8_t h[HEADER_BYTES];
	int r = 0;

	if (!w->f)
		return 0;
	header(h, (uint32_t)(w->samples * 2));
	if (w->failed || fseek(w->f, 0, SEEK_SET) || fwrite(h, sizeof(h), 1, w->f) != 1)
		r = -EIO;
	if (fclose(w->f) && !r)
		r = -errno;
	w->f = NULL;
	return r;
}
