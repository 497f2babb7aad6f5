/* Unit tests for json_str.c: every string becomes one valid JSON string (read back with
 * jansson, which refuses invalid UTF-8 and bad escapes) that decodes to the input, each byte
 * that starts no well-formed UTF-8 sequence as U+FFFD; a buffer too small is refused whole. */
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include <sb/json_str.h>

#include "harness.h"

#define FFFD "\xef\xbf\xbd"

/* in written with sb_json_put_str decodes (jansson) to want, of want_len bytes. */
static int round_trip(const char *in, const char *want, size_t want_len)
{
	char buf[256];
	size_t o = 0;
	json_error_t e;
	json_t *j = NULL;
	int r = 0;

	ASSERT_EQ(sb_json_put_str(buf, sizeof(buf), &o, in), 0);
	ASSERT_EQ(o, strlen(buf));
	j = json_loads(buf, JSON_DECODE_ANY, &e);
	if (!j)
		FAIL_AT("%s does not parse: %s", buf, e.text);
	ASSERT_TRUE(json_is_string(j));
	ASSERT_EQ(json_string_length(j), want_len);
	ASSERT_MEMEQ(json_string_value(j), want, want_len);
out:
	json_decref(j);
	return r;
}

TEST(escapes_and_text_as_it_is)
{
	int r = 0;

	ASSERT_EQ(round_trip("", "", 0), 0);
	ASSERT_EQ(round_trip("alice", "alice", 5), 0);
	ASSERT_EQ(round_trip("a\"b\\c/d", "a\"b\\c/d", 7), 0);
	ASSERT_EQ(round_trip("\t\n\r\b\f\x01\x1f\x7f", "\t\n\r\b\f\x01\x1f\x7f", 8), 0);
	/* Well-formed UTF-8 of two, three and four bytes goes as it is. */
	ASSERT_EQ(round_trip("\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\x9e",
	                     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x93\x9e", 9),
	          0);
out:
	return r;
}

TEST(invalid_utf8_as_replacement_characters)
{
	int r = 0;

	ASSERT_EQ(round_trip("\xff", FFFD, 3), 0);
	ASSERT_EQ(round_trip("a\x80z", "a" FFFD "z", 5), 0);         /* stray continuation */
	ASSERT_EQ(round_trip("\xc0\xaf", FFFD FFFD, 6), 0);          /* overlong */
	ASSERT_EQ(round_trip("\xed\xa0\x80", FFFD FFFD FFFD, 9), 0); /* surrogate */
	ASSERT_EQ(round_trip("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, 12), 0); /* > U+10FFFF */
	ASSERT_EQ(round_trip("\xe2\x82", FFFD FFFD, 6), 0);                    /* cut short */
	ASSERT_EQ(round_trip("\xe2\x82\"", FFFD FFFD "\"", 7), 0); /* cut short by a quote */
out:
	return r;
}

/* Every size below what the text needs is refused, *o kept; the size it needs is enough. */
TEST(too_small_refused)
{
	const char *in = "x\"\x01\xff"
	                 "\xc3\xa9";
	char buf[64], full[64];
	size_t need = 0, o;
	int r = 0;

	ASSERT_EQ(sb_json_put_str(full, sizeof(full), &need, in), 0);
	for (size_t size = 0; size <= need; size++) {
		o = 0;
		ASSERT_EQ(sb_json_put_str(buf, size, &o, in), -ENOSPC);
		ASSERT_EQ(o, 0u);
	}
	o = 0;
	ASSERT_EQ(sb_json_put_str(buf, need + 1, &o, in), 0);
	ASSERT_EQ(o, need);
	ASSERT_STREQ(buf, full);
	/* Appended after what is there. */
	memcpy(buf, "[", 2);
	o = 1;
	ASSERT_EQ(sb_json_put_str(buf, sizeof(buf), &o, NULL), 0);
	ASSERT_STREQ(buf, "[\"\"");
out:
	return r;
}
