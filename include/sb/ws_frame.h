/* A WebSocket client's data frames (RFC 6455 §5.2), built in place: the header and the masking
 * key go in the headroom in front of the payload, and the payload is masked a word at a time.
 * Masking keys come from the kernel's random source a few hundred at a time, not one read a
 * frame. The frame is then written as it is (LWS_WRITE_RAW): libwebsockets 4.1 masks byte by
 * byte and reads /dev/urandom for every frame, which at a thousand calls was several per cent
 * of the daemon's CPU. Pure apart from getrandom(). Thread: the owner of the key pool. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The most header a frame needs: 2 bytes, 8 of length, 4 of masking key. */
#define SB_WS_FRAME_MAX_HEADER 14

enum sb_ws_opcode {
	SB_WS_CONTINUATION = 0x0,
	SB_WS_TEXT = 0x1,
	SB_WS_BINARY = 0x2,
	SB_WS_CLOSE = 0x8,
	SB_WS_PING = 0x9,
	SB_WS_PONG = 0xa,
};

/* Masking keys drawn ahead of use. */
struct sb_ws_keys {
	uint8_t buf[1024];
	size_t pos; /* next unused byte; sizeof(buf) when empty */
};

/* Thread: owner. An empty pool: the first key fills it. */
void sb_ws_keys_init(struct sb_ws_keys *k);
/* Thread: owner. The next 4-byte masking key. Returns 0 or -errno from getrandom(). */
int sb_ws_keys_next(struct sb_ws_keys *k, uint8_t key[4]);

/* XORs len bytes at p with key, the key's first byte on p[0] (RFC 6455 §5.3). */
void sb_ws_mask(uint8_t *p, size_t len, const uint8_t key[4]);

/* Makes the len bytes at payload one final, masked frame of opcode: writes its header and key
 * into the SB_WS_FRAME_MAX_HEADER bytes in front of payload, which the caller provides, and
 * masks the payload in place. Returns the header's length: the frame starts that many bytes
 * before payload and is that many plus len bytes long. */
size_t sb_ws_frame_build(uint8_t *payload, size_t len, enum sb_ws_opcode op, const uint8_t key[4]);
