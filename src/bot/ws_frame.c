/* WebSocket client frames built in place, and their masking keys (see ws_frame.h). */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <sb/ws_frame.h>

void sb_ws_keys_init(struct sb_ws_keys *k)
{
	k->pos = sizeof(k->buf);
}

int sb_ws_keys_next(struct sb_ws_keys *k, uint8_t key[4])
{
	if (k->pos + 4 > sizeof(k->buf)) {
		/* up to 256 bytes, getrandom() returns them all once the pool is initialised */
		for (size_t got = 0; got < sizeof(k->buf);) {
			size_t want = sizeof(k->buf) - got < 256 ? sizeof(k->buf) - got : 256;
			ssize_t n = getrandom(k->buf + got, want, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			got += (size_t)n;
		}
		k->pos = 0;
	}
	memcpy(key, k->buf + k->pos, 4);
	k->pos += 4;
	return 0;
}

void sb_ws_mask(uint8_t *p, size_t len, const uint8_t key[4])
{
	uint8_t k8[8];
	uint64_t w, kw;
	size_t i = 0;

	/* eight bytes at a time: each word starts at a multiple of 4, so the key lines up */
	memcpy(k8, key, 4);
	memcpy(k8 + 4, key, 4);
	memcpy(&kw, k8, 8);
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		w ^= kw;
		memcpy(p + i, &w, 8);
	}
	for (; i < len; i++)
		p[i] ^= key[i & 3];
}

size_t sb_ws_frame_build(uint8_t *payload, size_t len, enum sb_ws_opcode op, const uint8_t key[4])
{
	uint8_t hdr[SB_WS_FRAME_MAX_HEADER];
	size_t n = 0;

	hdr[n++] = (uint8_t)(0x80 | op); /* FIN */
	if (len < 126) {
		hdr[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		hdr[n++] = 0x80 | 126;
		hdr[n++] = (uint8_t)(len >> 8);
		hdr[n++] = (uint8_t)len;
	} else {
		hdr[n++] = 0x80 | 127;
		for (int s = 56; s >= 0; s -= 8)
			hdr[n++] = (uint8_t)((uint64_t)len >> s);
	}
	memcpy(hdr + n, key, 4);
	n += 4;
	memcpy(payload - n, hdr, n);
	sb_ws_mask(payload, len, key);
	return n;
}
