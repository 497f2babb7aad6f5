/* The application/sdp part of a multipart body (RFC 2046), as SIP-I and SIP-T INVITEs carry
 * it beside ISUP. Written for untrusted input: every read stays within the body, whatever
 * bytes it holds (sofia-sip's own multipart parser asserts on a NUL). Pure. Thread: any. */
#pragma once

#include <stddef.h>

#define SB_MULTIPART_BOUNDARY_MAX 70 /* RFC 2046 */

/* The boundary parameter of a Content-Type header's parameters, e.g. from
 * "multipart/mixed;boundary=\"b 1\"" the params are "boundary=\"b 1\"" (quotes removed).
 * Writes it NUL-terminated into out (room for SB_MULTIPART_BOUNDARY_MAX + 1). Returns its
 * length, or -EINVAL when there is none or it breaks RFC 2046 (empty, too long). */
int sb_multipart_boundary(const char *params, size_t len, char *out);

/* Finds the first part of body[0..len) whose Content-Type is application/sdp (parameters
 * ignored), among the parts delimited by "--boundary" lines. Returns 0 with *part and *part_len
 * set to that part's content; -ENOENT when no part is SDP; -EBADMSG when the body has no
 * delimiter line. Nested multiparts are not searched. */
int sb_multipart_find_sdp(const char *body, size_t len, const char *boundary, const char **part,
                          size_t *part_len);
