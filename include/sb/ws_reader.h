/* A WebSocket client's reader of the server's frames (RFC 6455 §5), fed the bytes a socket
 * read returns, a block at a time: data is handed over in place, as pieces of its message
 * with where the message starts and ends, never copied or looked at byte by byte; a frame's
 * header split between two reads is kept here, and so is a control frame's payload (at most
 * 125 bytes). libwebsockets 4.1 parses a client's frames a byte at a time, about a tenth of
 * the daemon's CPU at 2000 calls, so ws:// bot connections are read with this.
 * Pure. Thread: the owner. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sb/ws_frame.h>

/* Close codes (RFC 6455 §7.4.1) the reader's owner sends. */
#define SB_WS_CLOSE_NORMAL 1000
#define SB_WS_CLOSE_PROTOCOL 1002

struct sb_ws_reader_ops {
	/* A piece of a data message (text or binary): first on the message's first piece, last on
	 * its last one; a message may come as one piece with both. len may be 0. */
	void (*data)(void *ctx, const uint8_t *p, size_t len, bool first, bool last, bool binary);
	/* A whole control frame (SB_WS_CLOSE, SB_WS_PING or SB_WS_PONG). Returns 0 to read on,
	 * anything else to stop (sb_ws_reader_feed returns it). */
	int (*control)(void *ctx, enum sb_ws_opcode op, const uint8_t *p, size_t len);
};

struct sb_ws_reader {
	uint8_t hdr[SB_WS_FRAME_MAX_HEADER]; /* the frame header being read */
	uint8_t hlen;                        /* bytes of it held */
	uint8_t op;                          /* the current frame's opcode */
	bool fin;                            /* the current frame ends its message */
	bool in_payload;                     /* the header is read, the payload is next */
	uint64_t left;                       /* payload bytes of the current frame still to come */
	bool in_message;                     /* a data message is open (more frames to come) */
	bool message_binary;
	bool piece_given; /* a piece of the open message has been handed over */
	uint8_t ctl[125]; /* a control frame's payload */
	uint8_t ctl_len;
};

/* A reader at the start of the stream. */
void sb_ws_reader_init(struct sb_ws_reader *r);

/* Reads len bytes at p, calling ops for what they complete. Returns 0 when all of them were
 * read, what ops->control returned when it asked to stop, or -1 when the server broke the
 * protocol (a masked or reserved-bit frame, an unknown opcode, a fragmented or long control
 * frame, a continuation with no message open, a data frame inside one, a length over 2^63),
 * with why in *why; the stream is not readable after -1. */
int sb_ws_reader_feed(struct sb_ws_reader *r, const uint8_t *p, size_t len,
                      const struct sb_ws_reader_ops *ops, void *ctx, const char **why);
