/* Stateless SIP responses built from a request's raw text, for requests that never reach the
 * SIP stack (from outside every ACL, or with a first line it cannot parse), as Kamailio's sl
 * module answers: the status line, every Via, From, To (with a tag added), Call-ID, CSeq,
 * optional extra headers and Content-Length: 0; and the raw Call-ID by which the guard knows
 * an agent's request in a dialog of the bridge's. Pure. Thread: any. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define SB_SIP_REPLY_MAX 4096 /* a reply never exceeds this (nor the request it answers) */
/* Via lines a reply echoes: the topmost, in order. A request with more (an absurd path, or a
 * header flood) still gets its reply, which reaches the hops these name; the rest are left out,
 * as a reply of SB_SIP_REPLY_MAX could not hold every Via of a large request anyway. */
#define SB_SIP_REPLY_VIAS 32

/* req may be the buffer sofia is parsing: blank lines before the first line are skipped, and a
 * NUL may stand for the first line's end (sofia writes one over its CR, or its LF). */

/* The request's method: its first token, or "" for a response or an empty first line.
 * Writes at most size - 1 bytes and a NUL; returns the method's full length. */
size_t sb_sip_method(const char *req, size_t len, char *out, size_t size);

/* Header lines of req[0..len) (folded continuations not counted), stopping at limit + 1.
 * *ended (may be NULL) tells whether the header section's empty line was reached: when it
 * was not, more header lines may follow (over TCP, in a later read). */
unsigned sb_sip_header_lines(const char *req, size_t len, unsigned limit, bool *ended);

/* The value of req[0..len)'s first Call-ID header (or compact i), blanks around it left out:
 * *id and *id_len point into req. Returns 0; -ENOENT when the header section has ended (its
 * empty line) without one; -EAGAIN when none has come so far but the section has not ended
 * (over TCP the rest may still be on its way), or when the one found is on the last line
 * received, which may be cut short. */
int sb_sip_call_id(const char *req, size_t len, const char **id, size_t *id_len);

/* Writes the reply to req[0..len) into out: "SIP/2.0 <status> <reason>", then the request's
 * Via headers in order, From, To (";tag=<to_tag>" appended when it has none), Call-ID and
 * CSeq (compact forms accepted, folded lines unfolded), then `extra` (complete header lines
 * with CRLF, or NULL) and "Content-Length: 0". Values are copied byte for byte but for line
 * breaks, so the reply may hold a NUL the request held (out is NUL-terminated after the
 * length). Returns the length; -EBADMSG when req is not a request, is an ACK (never
 * answered) or lacks one of those headers; -ENOSPC when the reply does not fit. */
int sb_sip_reply_build(char *out, size_t size, const char *req, size_t len, int status,
                       const char *reason, const char *to_tag, const char *extra);
