/* A WebSocket client's reader of the server's frames (see ws_reader.h). */
#include <string.h>

#include <sb/common.h>
#include <sb/ws_reader.h>

void sb_ws_reader_init(struct sb_ws_reader *r)
{
	memset(r, 0, sizeof(*r));
}

/* The header's full length, as far as the first have bytes of it tell. */
static size_t header_need(const uint8_t *h, size_t have)
{
	size_t n = 2;

	if (have < 2)
		return n;
	if ((h[1] & 0x7f) == 126)
		n += 2;
	else if ((h[1] & 0x7f) == 127)
		n += 8;
	if (h[1] & 0x80)
		n += 4;
	return n;
}

static int broken(const char **why, const char *text)
{
	*why = text;
	return -1;
}

/* Takes the header held in r->hdr: the frame's opcode, length and place in its message. */
static int start_frame(struct sb_ws_reader *r, const char **why)
{
	uint8_t b0 = r->hdr[0], b1 = r->hdr[1];
	uint64_t len = b1 & 0x7f;

	if (b0 & 0x70)
		return broken(why, "a reserved bit is set (no extension was agreed)");
	if (b1 & 0x80)
		return broken(why, "the server masked a frame");
	if (len == 126) {
		len = sb_get_be16(r->hdr + 2);
	} else if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | r->hdr[i];
		if (len >> 63)
			return broken(why, "a frame length over 2^63");
	}
	r->op = b0 & 0x0f;
	r->fin = b0 & 0x80;
	r->left = len;
	r->ctl_len = 0;
	switch (r->op) {
	case SB_WS_CLOSE:
	case SB_WS_PING:
	case SB_WS_PONG:
		if (!r->fin)
			return broken(why, "a fragmented control frame");
		if (len > sizeof(r->ctl))
			return broken(why, "a control frame over 125 bytes");
		break;
	case SB_WS_CONTINUATION:
		if (!r->in_message)
			return broken(why, "a continuation frame with no message open");
		break;
	case SB_WS_TEXT:
	case SB_WS_BINARY:
		if (r->in_message)
			return broken(why, "a new message inside a fragmented one");
		r->in_message = true;
		r->message_binary = r->op == SB_WS_BINARY;
		r->piece_given = false;
		break;
	default:
		return broken(why, "an unknown opcode");
	}
	r->in_payload = true;
	return 0;
}

int sb_ws_reader_feed(struct sb_ws_reader *r, const uint8_t *p, size_t len,
                      const struct sb_ws_reader_ops *ops, void *ctx, const char **why)
{
	for (;;) {
		size_t take;

		if (!r->in_payload) {
			size_t need = header_need(r->hdr, r->hlen);

			while (r->hlen < need && len) {
				r->hdr[r->hlen++] = *p++;
				len--;
				need = header_need(r->hdr, r->hlen);
			}
			if (r->hlen < need)
				return 0;
			r->hlen = 0;
			if (start_frame(r, why) < 0)
				return -1;
		}
		take = r->left < len ? (size_t)r->left : len;
		if (r->op & 0x8) {
			memcpy(r->ctl + r->ctl_len, p, take);
			r->ctl_len = (uint8_t)(r->ctl_len + take);
		} else {
			bool last = r->fin && take == r->left;

			/* An empty piece that ends nothing says nothing. */
			if (take || last) {
				ops->data(ctx, p, take, !r->piece_given, last, r->message_binary);
				r->piece_given = true;
			}
		}
		p += take;
		len -= take;
		r->left -= take;
		if (r->left)
			return 0;
		r->in_payload = false;
		if (r->op & 0x8) {
			int rc = ops->control(ctx, (enum sb_ws_opcode)r->op, r->ctl, r->ctl_len);

			if (rc)
				return rc;
		} else if (r->fin) {
			r->in_message = false;
		}
	}
}
