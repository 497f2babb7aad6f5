/* SDP offer → answer for the caller's audio stream: picks PCMU/PCMA in the caller's order,
 * telephone-event, the connection address, ptime, direction and SDES crypto (RTP/SAVP), and
 * writes the answer text.
 * Pure (sofia's sdp_parse with a home on the stack). Thread: any (control in practice).
 * Owns nothing beyond the call. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sofia-sip/su_alloc.h>
#include <sofia-sip/sdp.h>

#include <sb/common.h>
#include <sb/sdp_neg.h>
#include <sb/sip_text.h>

#define PTIME_DEFAULT_MS 20
#define PTIME_MIN_MS 10
#define PTIME_MAX_MS 60

/* The first audio m= line on RTP/AVP or RTP/SAVP, preferring one the caller did not reject
 * (port 0). *other_audio tells whether audio was offered on some other transport. */
static const sdp_media_t *find_audio(const sdp_session_t *sdp, int *other_audio)
{
	const sdp_media_t *m, *rejected = NULL;

	*other_audio = 0;
	for (m = sdp->sdp_media; m; m = m->m_next) {
		if (m->m_type != sdp_media_audio)
			continue;
		if (m->m_proto != sdp_proto_rtp && m->m_proto != sdp_proto_srtp) {
			*other_audio = 1;
			continue;
		}
		if (m->m_port != 0)
			return m;
		if (!rejected)
			rejected = m;
	}
	return rejected;
}

/* An address inet_pton() wrote, of either family. */
union inaddr {
	struct in_addr v4;
	struct in6_addr v6;
};

/* A group or broadcast address: IPv4 224.0.0.0/4 and 255.255.255.255, IPv6 ff00::/8 (an
 * IPv4-mapped one by its IPv4 part). */
static bool many_receivers(int family, const union inaddr *a)
{
	uint32_t v4;

	if (family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&a->v6))
		return IN6_IS_ADDR_MULTICAST(&a->v6);
	if (family == AF_INET6)
		memcpy(&v4, &a->v6.s6_addr[12], sizeof(v4));
	else
		v4 = a->v4.s_addr;
	v4 = ntohl(v4);
	return IN_MULTICAST(v4) || v4 == INADDR_BROADCAST;
}

static int fill_connection(const sdp_session_t *sdp, const sdp_media_t *m, struct sb_sdp_offer *out)
{
	const sdp_connection_t *c = m->m_connections ? m->m_connections : sdp->sdp_connection;
	union inaddr a;

	if (!c || !c->c_address || c->c_nettype != sdp_net_in)
		return -EBADMSG;
	if (c->c_addrtype == sdp_addr_ip4)
		out->family = AF_INET;
	else if (c->c_addrtype == sdp_addr_ip6)
		out->family = AF_INET6;
	else
		return -EBADMSG;
	/* The media thread sends to this address as is: a host name would need a resolver. */
	if (strlen(c->c_address) >= sizeof(out->addr) ||
	    inet_pton(out->family, c->c_address, &a) != 1)
		return -EBADMSG;
	/* A call's RTP goes to one party: to a group or a broadcast address it would reach
	 * a whole network, or fail at every send (no SO_BROADCAST). */
	if (many_receivers(out->family, &a))
		return -EADDRNOTAVAIL;
	strcpy(out->addr, c->c_address);
	return 0;
}

/* Static types 0/8 come with a predefined rtpmap; a=rtpmap can also name them on a dynamic
 * type. The list is in the caller's m= order. */
static int choose_codec(const sdp_media_t *m, struct sb_sdp_offer *out)
{
	for (const sdp_rtpmap_t *rm = m->m_rtpmaps; rm; rm = rm->rm_next) {
		if (!rm->rm_encoding || rm->rm_rate != SB_RATE_8K)
			continue;
		if (strcasecmp(rm->rm_encoding, "PCMU") == 0)
			out->codec = SB_CODEC_PCMU;
		else if (strcasecmp(rm->rm_encoding, "PCMA") == 0)
			out->codec = SB_CODEC_PCMA;
		else
			continue;
		out->pt = (uint8_t)rm->rm_pt;
		return 0;
	}
	return -ENOTSUP;
}

/* RFC 4733 events on an 8000 Hz clock, the only rate of the bridge's RTP; the first offered
 * wins. A type equal to the codec's cannot be both, so it is not taken. */
static int choose_te(const sdp_media_t *m, uint8_t codec_pt)
{
	for (const sdp_rtpmap_t *rm = m->m_rtpmaps; rm; rm = rm->rm_next)
		if (rm->rm_encoding && strcasecmp(rm->rm_encoding, "telephone-event") == 0 &&
		    rm->rm_rate == SB_RATE_8K && rm->rm_pt != codec_pt)
			return (int)rm->rm_pt;
	return -1;
}

static const sdp_attribute_t *find_attr(const sdp_attribute_t *a, const char *name)
{
	for (; a; a = a->a_next)
		if (a->a_name && strcasecmp(a->a_name, name) == 0)
			return a;
	return NULL;
}

/* Media-level a=ptime wins over a session-level one. */
static int parse_ptime(const sdp_session_t *sdp, const sdp_media_t *m, int *ptime_ms)
{
	const sdp_attribute_t *a = find_attr(m->m_attributes, "ptime");
	char *end;
	long v;

	if (!a)
		a = find_attr(sdp->sdp_attributes, "ptime");
	if (!a) {
		*ptime_ms = PTIME_DEFAULT_MS;
		return 0;
	}
	if (!a->a_value || a->a_value[0] < '0' || a->a_value[0] > '9')
		return -EBADMSG;
	v = strtol(a->a_value, &end, 10);
	/* Some stacks write "20.0" or trail blanks; the integer part is what counts. */
	if (*end != '\0' && *end != '.' && *end != ' ' && *end != '\t')
		return -EBADMSG;
	if (v < PTIME_MIN_MS || v > PTIME_MAX_MS)
		return -ERANGE;
	*ptime_ms = (int)v;
	return 0;
}

static enum sb_dir dir_from_mode(unsigned mode)
{
	switch (mode) {
	case sdp_sendonly:
		return SB_DIR_SENDONLY;
	case sdp_recvonly:
		return SB_DIR_RECVONLY;
	case sdp_inactive:
		return SB_DIR_INACTIVE;
	default:
		return SB_DIR_SENDRECV;
	}
}

#define MAX_CRYPTO_LINES 16 /* a=crypto lines looked at per m= line */

/* The first a=crypto line of the audio m= line that parses and is usable; a bad one is
 * skipped. Only media-level lines count (RFC 4568 9.1). */
static void choose_crypto(const sdp_media_t *m, struct sb_sdp_offer *out)
{
	unsigned seen = 0;

	for (const sdp_attribute_t *a = m->m_attributes; a && seen < MAX_CRYPTO_LINES;
	     a = a->a_next) {
		if (!a->a_name || strcasecmp(a->a_name, "crypto") != 0)
			continue;
		seen++;
		if (sb_sdp_crypto_parse(a->a_value, &out->crypto) == 0)
			return;
	}
}

/* Records every m= line; all but the audio one are answered "m=<type> 0 <proto> <fmt>". */
static int list_media(const sdp_session_t *sdp, const sdp_media_t *audio, struct sb_sdp_offer *out)
{
	unsigned i = 0;

	for (const sdp_media_t *m = sdp->sdp_media; m; m = m->m_next, i++) {
		char fmt[16] = "0";
		int n;

		if (i >= SB_SDP_MAX_MEDIA)
			return -EBADMSG;
		if (m == audio) {
			out->audio_index = i;
			continue;
		}
		if (m->m_rtpmaps)
			snprintf(fmt, sizeof(fmt), "%u", m->m_rtpmaps->rm_pt);
		else if (m->m_format && m->m_format->l_text)
			snprintf(fmt, sizeof(fmt), "%s", m->m_format->l_text);
		n = snprintf(out->rejected[i], sizeof(out->rejected[i]), "%s 0 %s %s",
		             m->m_type_name ? m->m_type_name : "audio",
		             m->m_proto_name ? m->m_proto_name : "RTP/AVP", fmt);
		if (n < 0 || (size_t)n >= sizeof(out->rejected[i]) ||
		    strpbrk(out->rejected[i], "\r\n"))
			return -EBADMSG;
	}
	out->n_media = i;
	return 0;
}

static int parse_session(const sdp_session_t *sdp, struct sb_sdp_offer *out)
{
	int other_audio, r;
	const sdp_media_t *m = find_audio(sdp, &other_audio);

	if (!m)
		return other_audio ? -ENOTSUP : -EBADMSG;
	r = fill_connection(sdp, m, out);
	if (r < 0)
		return r;
	r = list_media(sdp, m, out);
	if (r < 0)
		return r;
	if (m->m_port > UINT16_MAX)
		return -EBADMSG;
	out->port = (uint16_t)m->m_port;
	r = choose_codec(m, out);
	if (r < 0)
		return r;
	out->te_pt = choose_te(m, out->pt);
	r = parse_ptime(sdp, m, &out->ptime_ms);
	if (r < 0)
		return r;
	/* sofia applies session-level direction attributes to m_mode unless the media overrides. */
	out->dir = dir_from_mode(m->m_mode);
	out->savp = m->m_proto == sdp_proto_srtp;
	choose_crypto(m, out);
	return 0;
}

/* RFC 4566 token-char. */
static bool is_token_char(unsigned char ch)
{
	return ch == 0x21 || (ch >= 0x23 && ch <= 0x27) || ch == 0x2a || ch == 0x2b || ch == 0x2d ||
	       ch == 0x2e || (ch >= 0x30 && ch <= 0x39) || (ch >= 0x41 && ch <= 0x5a) ||
	       (ch >= 0x5e && ch <= 0x7e);
}

static size_t span(const char *p, const char *end, bool (*ok)(unsigned char))
{
	const char *q = p;

	while (q < end && ok((unsigned char)*q))
		q++;
	return (size_t)(q - p);
}

static bool is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_digit(unsigned char ch)
{
	return ch >= '0' && ch <= '9';
}

/* One "m=" line (p just after "m=", end at its CR/LF): media SP port["/"count] SP proto
 * 1*(SP fmt), proto = token *("/" token), runs of blanks allowed. sofia-sip 1.12.11 never
 * returns from some malformed m= lines (a transport it does not know followed by nothing or
 * by a non-token byte), so nothing else may reach it. A trailing blank is allowed only after
 * the RTP transports, which it parses safely. */
static bool mline_ok(const char *p, const char *end)
{
	const char *proto;
	size_t n, fmts = 0;
	bool rtp;

	if (!(n = span(p, end, is_token_char)) || !span(p += n, end, is_blank))
		return false;
	p += span(p, end, is_blank);
	if (!(n = span(p, end, is_digit)))
		return false;
	p += n;
	if (p < end && *p == '/') { /* port count */
		if (!(n = span(++p, end, is_digit)))
			return false;
		p += n;
	}
	if (!(n = span(p, end, is_blank)))
		return false;
	proto = p += n;
	while ((n = span(p, end, is_token_char)) && (p += n) < end && *p == '/')
		p++;
	if (!n)
		return false;
	rtp = ((size_t)(p - proto) == 7 && memcmp(proto, "RTP/AVP", 7) == 0) ||
	      ((size_t)(p - proto) == 8 && memcmp(proto, "RTP/SAVP", 8) == 0) ||
	      ((size_t)(p - proto) == 3 && memcmp(proto, "RTP", 3) == 0);
	while (p < end) {
		if (!(n = span(p, end, is_blank)))
			return false;
		if ((p += n) == end)
			return rtp && fmts > 0;
		if (!(n = span(p, end, is_token_char)))
			return false;
		p += n;
		fmts++;
	}
	return fmts > 0;
}

/* Every m= line of the text sofia would parse (up to a NUL; lines end at CR or LF). */
static bool mlines_ok(const char *sdp, size_t len)
{
	const char *nul = memchr(sdp, '\0', len), *end = nul ? nul : sdp + len;

	for (const char *p = sdp, *eol; p < end; p = eol + 1) {
		eol = sb_line_end(p, end);
		p += span(p, eol, is_blank);
		if (eol - p >= 2 && p[0] == 'm' && p[1] == '=' && !mline_ok(p + 2, eol))
			return false;
		if (eol == end)
			break;
	}
	return true;
}

/* "a=rtpmap:PT NAME/RATE..." (p at "a=", end at the line's end). */
static bool rtpmap_ok(const char *p, const char *end)
{
	size_t n;

	p += 9; /* "a=rtpmap:" */
	if (!(n = span(p, end, is_digit)) || !span(p += n, end, is_blank))
		return false;
	p += span(p, end, is_blank);
	if (!(n = span(p, end, is_token_char)) || (p += n) >= end || *p != '/')
		return false;
	return span(p + 1, end, is_digit) > 0;
}

/* A copy of the SDP without a=rtpmap lines that lack a clock rate: sofia refuses the whole
 * description for one, even on a stream the answer rejects anyway (RFC 4475 sdp01). Returns
 * a malloc'd NUL-terminated copy of *len bytes, or NULL. */
static char *without_bad_rtpmaps(const char *sdp, size_t *len)
{
	const char *end = sdp + *len;
	char *out = malloc(*len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (const char *p = sdp, *eol; p < end; p = eol) {
		eol = sb_line_end(p, end);
		while (eol < end && (*eol == '\r' || *eol == '\n'))
			eol++;
		if ((size_t)(eol - p) >= 9 && strncmp(p, "a=rtpmap:", 9) == 0 && !rtpmap_ok(p, eol))
			continue;
		memcpy(out + n, p, (size_t)(eol - p));
		n += (size_t)(eol - p);
	}
	out[n] = '\0';
	*len = n;
	return out;
}

bool sb_sdp_no_address(const struct sb_sdp_offer *o)
{
	return o->port == 0 || sb_addr_unspecified(o->addr);
}

const char *sb_sdp_media_peer(const struct sb_sdp_offer *o, const char *fallback)
{
	bool v6 = strchr(fallback, ':') != NULL;

	if (!sb_addr_unspecified(o->addr))
		return o->addr;
	/* An IPv4 source on a dual-stack listener shows as ::ffff:a.b.c.d. */
	if (o->family == AF_INET && v6 && strncasecmp(fallback, "::ffff:", 7) == 0 &&
	    strchr(fallback + 7, '.'))
		return fallback + 7;
	return v6 == (o->family == AF_INET6) ? fallback : o->addr;
}

bool sb_sdp_held(const struct sb_sdp_offer *o)
{
	return sb_sdp_no_address(o) || o->dir == SB_DIR_SENDONLY || o->dir == SB_DIR_INACTIVE;
}

const char *sb_sdp_parse_problem(int r)
{
	switch (r) {
	case -ENOTSUP:
		return "no PCMU/PCMA";
	case -ERANGE:
		return "a ptime outside 10-60 ms";
	case -EADDRNOTAVAIL:
		return "a multicast or broadcast media address";
	case -ENOMEM:
		return "out of memory";
	default:
		return "SDP that cannot be parsed or has no usable audio line";
	}
}

int sb_sdp_parse_offer(const char *sdp, size_t len, struct sb_sdp_offer *out)
{
	su_home_t home[1] = {SU_HOME_INIT(home)};
	struct sb_sdp_offer o = {0};
	sdp_session_t *s;
	char *text;
	int r = -EBADMSG;

	if (!sdp || len == 0 || len > INT32_MAX)
		return -EBADMSG;
	text = without_bad_rtpmaps(sdp, &len);
	if (!text)
		return -ENOMEM;
	/* The m= lines are checked in the text sofia is given: a line dropped above may have
	 * held the NUL that hid the lines after it. */
	if (!mlines_ok(text, len)) {
		free(text);
		return -EBADMSG;
	}
	if (su_home_init(home) < 0) {
		free(text);
		return -ENOMEM;
	}
	s = len ? sdp_session(sdp_parse(home, text, (issize_t)len, 0)) : NULL;
	if (s)
		r = parse_session(s, &o);
	su_home_deinit(home);
	sb_srtp_wipe(text, len);
	free(text);
	if (r == 0)
		*out = o;
	sb_srtp_wipe(&o.crypto, sizeof(o.crypto));
	return r;
}

static const char *answer_dir(enum sb_dir offered)
{
	switch (offered) {
	case SB_DIR_SENDONLY:
		return "recvonly";
	case SB_DIR_RECVONLY:
		return "sendonly";
	case SB_DIR_INACTIVE:
		return "inactive";
	default:
		return "sendrecv";
	}
}

/* v= through t=; returns the length, -EINVAL for a non-numeric address or -ENOSPC. */
static int write_session(char *buf, size_t size, const char *local_addr, uint64_t session_id,
                         uint64_t session_version)
{
	unsigned char tmp[sizeof(struct in6_addr)];
	const char *ip;
	int n;

	/* Only numeric addresses: this text goes on the wire verbatim. */
	if (inet_pton(AF_INET, local_addr, tmp) == 1)
		ip = "IP4";
	else if (inet_pton(AF_INET6, local_addr, tmp) == 1)
		ip = "IP6";
	else
		return -EINVAL;
	n = snprintf(buf, size,
	             "v=0\r\n"
	             "o=sipbridge %" PRIu64 " %" PRIu64 " IN %s %s\r\n"
	             "s=sipbridge\r\n"
	             "c=IN %s %s\r\n"
	             "t=0 0\r\n",
	             session_id, session_version, ip, local_addr, ip, local_addr);
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

int sb_sdp_build_offer(char *buf, size_t size, const char *local_addr, uint16_t local_port,
                       uint64_t session_id, uint64_t session_version)
{
	int n = write_session(buf, size, local_addr, session_id, session_version), m;

	if (n < 0)
		return n;
	m = snprintf(buf + n, size - (size_t)n,
	             "m=audio %u RTP/AVP 8 0 %d\r\n"
	             "a=rtpmap:8 PCMA/8000\r\n"
	             "a=rtpmap:0 PCMU/8000\r\n"
	             "a=rtpmap:%d telephone-event/8000\r\n"
	             "a=fmtp:%d 0-15\r\n"
	             "a=ptime:20\r\n"
	             "a=sendrecv\r\n",
	             local_port, SB_SDP_TE_PT, SB_SDP_TE_PT, SB_SDP_TE_PT);
	if (m < 0 || (size_t)m >= size - (size_t)n)
		return -ENOSPC;
	return n + m;
}

/* The audio m= line and its attributes: the codec, then telephone-event when offered, then
 * our a=crypto on an SRTP call. */
static int write_audio(char *buf, size_t size, const struct sb_sdp_offer *offer,
                       uint16_t local_port)
{
	const char *codec = sb_codec_name(offer->codec), *dir = answer_dir(offer->dir);
	const char *proto = offer->srtp ? "RTP/SAVP" : "RTP/AVP";
	int te = offer->te_pt, n, c;

	if (te < 0 || te > 127 || te == offer->pt)
		n = snprintf(buf, size,
		             "m=audio %u %s %u\r\n"
		             "a=rtpmap:%u %s/8000\r\n"
		             "a=ptime:20\r\n"
		             "a=%s\r\n",
		             local_port, proto, offer->pt, offer->pt, codec, dir);
	else
		n = snprintf(buf, size,
		             "m=audio %u %s %u %d\r\n"
		             "a=rtpmap:%u %s/8000\r\n"
		             "a=rtpmap:%d telephone-event/8000\r\n"
		             "a=fmtp:%d 0-15\r\n"
		             "a=ptime:20\r\n"
		             "a=%s\r\n",
		             local_port, proto, offer->pt, te, offer->pt, codec, te, te, dir);
	if (n < 0 || (size_t)n >= size || !offer->srtp)
		return n;
	c = sb_sdp_crypto_write(buf + n, size - (size_t)n, offer->crypto.tag, offer->crypto.suite,
	                        &offer->local);
	return c < 0 ? -ENOSPC : n + c;
}

int sb_sdp_build_answer(char *buf, size_t size, const struct sb_sdp_offer *offer,
                        const char *local_addr, uint16_t local_port, uint64_t session_id,
                        uint64_t session_version)
{
	unsigned n_media = offer->n_media ? offer->n_media : 1;
	size_t len;
	int n;

	n = write_session(buf, size, local_addr, session_id, session_version);
	for (unsigned i = 0; i < n_media && n >= 0 && (size_t)n < size; i++) {
		len = (size_t)n;
		if (i == offer->audio_index)
			n = write_audio(buf + len, size - len, offer, local_port);
		else
			n = snprintf(buf + len, size - len, "m=%s\r\n", offer->rejected[i]);
		if (n >= 0)
			n += (int)len;
	}
	if (n == -EINVAL)
		return n;
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}
