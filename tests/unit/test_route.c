/* Unit tests for route.c: ACL → trunk (403), DID check (404), X-Customer-Header → bot with
 * the "*" default, and the custom-parameter filter with its limits. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include <sb/common.h>
#include <sb/route.h>

#include "harness.h"

/* Two trunks share 10.0.0.0/8: the first only takes two DIDs, the second any number.
 * 192.0.2.0/24 reaches a trunk without a "*" route. */
static const char cfg_text[] =
        "bots = ( { name = \"sales\"; url = \"ws://127.0.0.1:5001/sales\"; },\n"
        "         { name = \"support\"; url = \"ws://127.0.0.1:5001/support\"; },\n"
        "         { name = \"other\"; url = \"ws://127.0.0.1:5001/other\"; } );\n"
        "trunks = (\n"
        "  { name = \"dids\"; acl = ( \"10.0.0.0/8\", \"2001:db8::/32\" );\n"
        "    numbers = ( \"+919876543210\", \"5551000\" );\n"
        "    bots = ( { match = \"*\"; bot = \"other\"; },\n"
        "             { match = \"SalesBot\"; bot = \"sales\"; } ); },\n"
        "  { name = \"anynum\"; acl = ( \"10.0.0.0/8\" );\n"
        "    bots = ( { match = \"support\"; bot = \"support\"; },\n"
        "             { match = \"*\"; bot = \"sales\"; } ); },\n"
        "  { name = \"nodefault\"; acl = ( \"192.0.2.0/24\" );\n"
        "    bots = ( { match = \"support\"; bot = \"support\"; } ); } );\n";

/* The snapshot the routing tests share; each test loads and drops its own. */
static struct sb_config *cfg;

static int setup(void)
{
	char err[SB_CONFIG_ERR_MAX];

	if (sb_config_load_string(&cfg, cfg_text, "route-test", NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "  %s\n", err);
		return -1;
	}
	return 0;
}

static struct sockaddr_storage src;

static const struct sockaddr *addr(const char *ip)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&src;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&src;

	memset(&src, 0, sizeof(src));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1)
		s6->sin6_family = AF_INET6;
	return (const struct sockaddr *)&src;
}

/* Routes one INVITE; returns the status and fills trunk/bot names ("" when not routed). */
static int route(const char *ip, const char *ruri, const char *to, const char *hdr,
                 const char **trunk, const char **bot)
{
	struct sb_route_in in = {addr(ip), ruri, to, hdr};
	struct sb_route_out out = {0};
	int st = sb_route_select(cfg, &in, &out);

	*trunk = out.trunk ? out.trunk->name : "";
	*bot = out.bot ? out.bot->name : "";
	return st;
}

TEST(acl_decides_first)
{
	const char *t, *b;
	int r = 0;

	ASSERT_EQ(setup(), 0);
	ASSERT_EQ(route("198.51.100.1", "5551000", NULL, NULL, &t, &b), 403);
	ASSERT_STREQ(t, "");
	ASSERT_EQ(route("2001:db9::1", "5551000", NULL, NULL, &t, &b), 403);
	ASSERT_EQ(route("::ffff:198.51.100.1", NULL, NULL, NULL, &t, &b), 403);
	/* IPv4-mapped source on a dual-stack socket still matches 10.0.0.0/8. */
	ASSERT_EQ(route("::ffff:10.1.1.1", "x", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "anynum");
out:
	cfg = sb_config_unref(cfg);
	return r;
}

TEST(did_check)
{
	const char *t, *b;
	int r = 0;

	ASSERT_EQ(setup(), 0);
	/* The first trunk whose ACL holds the source and whose numbers hold the DID. */
	ASSERT_EQ(route("10.0.0.1", "+919876543210", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "dids");
	/* A leading '+' is ignored on both sides, and the To user counts too. */
	ASSERT_EQ(route("10.0.0.1", "919876543210", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "dids");
	ASSERT_EQ(route("10.0.0.1", "+5551000", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "dids");
	ASSERT_EQ(route("10.0.0.1", "bridge", "+5551000", NULL, &t, &b), 0);
	ASSERT_STREQ(t, "dids");
	/* Not one of its numbers: the next trunk (numbers empty = any) takes it. */
	ASSERT_EQ(route("10.0.0.1", "5551001", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "anynum");
	/* Only the first trunk holds the IPv6 range: an unknown DID is 404 there. */
	ASSERT_EQ(route("2001:db8::1", "+5551000", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(t, "dids");
	ASSERT_EQ(route("2001:db8::1", "5551001", "5551002", NULL, &t, &b), 404);
	ASSERT_STREQ(t, "");
	ASSERT_EQ(route("2001:db8::1", NULL, NULL, NULL, &t, &b), 404);
	ASSERT_EQ(route("2001:db8::1", "55510000", NULL, NULL, &t, &b), 404);
	ASSERT_EQ(route("2001:db8::1", "++5551000", NULL, NULL, &t, &b), 404);
out:
	cfg = sb_config_unref(cfg);
	return r;
}

TEST(bot_choice)
{
	const char *t, *b;
	int r = 0;

	ASSERT_EQ(setup(), 0);
	/* The exact match wins even though "*" comes first in the list; case does not matter. */
	ASSERT_EQ(route("10.0.0.1", "5551000", NULL, "salesbot", &t, &b), 0);
	ASSERT_STREQ(b, "sales");
	ASSERT_EQ(route("10.0.0.1", "5551000", NULL, "SALESBOT", &t, &b), 0);
	ASSERT_STREQ(b, "sales");
	ASSERT_EQ(route("10.0.0.1", "5551000", NULL, "unknown", &t, &b), 0);
	ASSERT_STREQ(b, "other");
	ASSERT_EQ(route("10.0.0.1", "5551000", NULL, NULL, &t, &b), 0);
	ASSERT_STREQ(b, "other");
	ASSERT_EQ(route("10.0.0.1", "1", NULL, "Support", &t, &b), 0);
	ASSERT_STREQ(t, "anynum");
	ASSERT_STREQ(b, "support");
	ASSERT_EQ(route("10.0.0.1", "1", NULL, "", &t, &b), 0);
	ASSERT_STREQ(b, "sales");
	/* No match and no "*": 404. */
	ASSERT_EQ(route("192.0.2.9", "1", NULL, "support", &t, &b), 0);
	ASSERT_STREQ(b, "support");
	ASSERT_EQ(route("192.0.2.9", "1", NULL, "sales", &t, &b), 404);
	ASSERT_EQ(route("192.0.2.9", "1", NULL, NULL, &t, &b), 404);
	ASSERT_STREQ(b, "");
out:
	cfg = sb_config_unref(cfg);
	return r;
}

/* Runs the filter; returns the passed names joined by ',' into buf. */
static size_t filter(const struct sb_kv *in, size_t n, size_t max, size_t *dropped, char *buf,
                     size_t size)
{
	struct sb_kv out[16];
	size_t k = sb_route_custom_params(in, n, out, max, dropped);

	buf[0] = '\0';
	for (size_t i = 0; i < k; i++)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s=%s", i ? "," : "",
		         out[i].name, out[i].value);
	return k;
}

TEST(custom_params_basic)
{
	const struct sb_kv in[] = {
	        {"Via", "SIP/2.0/UDP 10.0.0.1"},
	        {"X-UUI", "abc"},
	        {"x-account-sid", "AC1"},
	        {"X-Exotel-Secret", "s"},
	        {"Exotel-Flow", "f"},
	        {"veeno-id", "v"},
	        {"X-VEENO-Tag", "t"},
	        {"X-Customer-Header", "salesbot"},
	        {"From", "<sip:a@b>"},
	        {"X-Lang", "en"},
	};
	size_t dropped = 99;
	char buf[512];
	int r = 0;

	ASSERT_EQ(filter(in, ARRAY_SIZE(in), 16, &dropped, buf, sizeof(buf)), 4);
	ASSERT_STREQ(buf, "X-UUI=abc,x-account-sid=AC1,X-Customer-Header=salesbot,X-Lang=en");
	/* The four reserved ones; Via and From are not parameters at all. */
	ASSERT_EQ(dropped, 4);
	/* out pointers point into in. */
	struct sb_kv out[4];
	ASSERT_EQ(sb_route_custom_params(in, ARRAY_SIZE(in), out, 4, NULL), 4);
	ASSERT_TRUE(out[0].value == in[1].value);
out:
	return r;
}

TEST(custom_params_limits)
{
	char uui45[46], uui46[47], big[190];
	size_t dropped = 0;
	char buf[1024];
	int r = 0;

	memset(uui45, 'u', 45);
	uui45[45] = '\0';
	memset(uui46, 'u', 46);
	uui46[46] = '\0';
	memset(big, 'v', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	char sid64[SB_ACCOUNT_SID_MAX_BYTES + 1], sid65[SB_ACCOUNT_SID_MAX_BYTES + 2];

	memset(sid64, 's', sizeof(sid64) - 1);
	sid64[sizeof(sid64) - 1] = '\0';
	memset(sid65, 's', sizeof(sid65) - 1);
	sid65[sizeof(sid65) - 1] = '\0';
	const struct sb_kv a[] = {{"X-UUI", uui46}, {"X-UUI", uui45}, {"X-Account-Sid", sid64}};
	/* Too long an X-UUI is dropped, and its duplicate too: only the first name counts. */
	ASSERT_EQ(filter(a, 3, 16, &dropped, buf, sizeof(buf)), 1);
	ASSERT_EQ(dropped, 2);
	const struct sb_kv b[] = {{"X-UUI", uui45}, {"X-Account-Sid", sid64}};
	ASSERT_EQ(filter(b, 2, 16, &dropped, buf, sizeof(buf)), 2);
	ASSERT_EQ(dropped, 0);
	/* X-Account-Sid is bounded too (it also becomes start.account_sid). */
	const struct sb_kv b2[] = {{"X-Account-Sid", sid65}, {"X-UUI", uui45}};
	ASSERT_EQ(filter(b2, 2, 16, &dropped, buf, sizeof(buf)), 1);
	ASSERT_EQ(dropped, 1);

	/* At most three others... */
	const struct sb_kv c[] = {
	        {"X-A", "1"}, {"X-B", "2"}, {"X-C", "3"}, {"X-D", "4"}, {"X-UUI", "u"}};
	ASSERT_EQ(filter(c, 5, 16, &dropped, buf, sizeof(buf)), 4);
	ASSERT_STREQ(buf, "X-A=1,X-B=2,X-C=3,X-UUI=u");
	ASSERT_EQ(dropped, 1);

	/* ...holding at most 200 bytes of names and values together: "X-Big" + 189 = 194, so
	 * "X-C" + "3333" (7 bytes) does not fit, "X-D" + "4" (4 bytes) still does (198), and then
	 * "X-E" + "" (3 bytes) no longer does. */
	const struct sb_kv d[] = {{"X-Big", big}, {"X-C", "3333"}, {"X-D", "4"}, {"X-E", ""}};
	ASSERT_EQ(filter(d, 4, 16, &dropped, buf, sizeof(buf)), 2);
	ASSERT_EQ(strncmp(buf, "X-Big=", 6), 0);
	ASSERT_TRUE(strstr(buf, ",X-D=4") != NULL);
	ASSERT_EQ(dropped, 2);
	const struct sb_kv e[] = {{"X-Big", big}, {"X-C", "33"}};
	ASSERT_EQ(filter(e, 2, 16, &dropped, buf, sizeof(buf)), 2); /* 199 bytes: fits */
out:
	return r;
}

TEST(custom_params_max_and_dups)
{
	const struct sb_kv in[] = {{"X-UUI", "a"},     {"x-uui", "b"}, {"X-Account-Sid", "c"},
	                           {"X-One", "1"},     {"X-Two", "2"}, {NULL, "orphan"},
	                           {"X-NoValue", NULL}};
	size_t dropped = 0;
	char buf[256];
	int r = 0;

	ASSERT_EQ(filter(in, ARRAY_SIZE(in), 16, &dropped, buf, sizeof(buf)), 4);
	ASSERT_STREQ(buf, "X-UUI=a,X-Account-Sid=c,X-One=1,X-Two=2");
	ASSERT_EQ(dropped, 2); /* the duplicate x-uui and X-NoValue */
	/* Output room for two: the rest is counted as dropped. */
	ASSERT_EQ(filter(in, ARRAY_SIZE(in), 2, &dropped, buf, sizeof(buf)), 2);
	ASSERT_STREQ(buf, "X-UUI=a,X-Account-Sid=c");
	ASSERT_EQ(dropped, 4);
	ASSERT_EQ(filter(in, 0, 16, &dropped, buf, sizeof(buf)), 0);
	ASSERT_EQ(dropped, 0);
out:
	return r;
}
