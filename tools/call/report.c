/* The one line of JSON sipbridge-call prints when the call is over: the final response,
 * what was sent and received, keys, utterances, who hung up and what our BYE got (fields in
 * --help).
 * Thread: main. Owns nothing.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

static const char *hangup_name(enum sb_cl_hangup h)
{
	switch (h) {
	case SB_CL_HANGUP_LOCAL:
		return "local";
	case SB_CL_HANGUP_REMOTE:
		return "remote";
	default:
		return "none";
	}
}

/* The "bye" field: null when no BYE was sent, else what became of it. */
static void bye_json(FILE *f, const struct sb_cl_result *r)
{
	switch (r->bye) {
	case SB_CL_BYE_ANSWERED:
		fprintf(f, "\"%d\"", r->bye_code);
		break;
	case SB_CL_BYE_PENDING: /* given up on: the run's end came first */
	case SB_CL_BYE_TIMEOUT:
		fputs("\"timeout\"", f);
		break;
	case SB_CL_BYE_TRANSPORT:
		fputs("\"transport error\"", f);
		break;
	case SB_CL_BYE_CROSSED:
		fputs("\"crossed\"", f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

/* A JSON string of text: escaped, and with any byte that is not valid UTF-8 as '?'. */
static void json_str(FILE *f, const char *text)
{
	json_t *s = json_string(text);
	char *out, clean[256];
	size_t i;

	if (!s) {
		for (i = 0; text[i] && i < sizeof(clean) - 1; i++)
			clean[i] = (unsigned char)text[i] < 0x80 ? text[i] : '?';
		clean[i] = '\0';
		s = json_string(clean);
	}
	out = s ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
	fputs(out ? out : "\"\"", f);
	free(out);
	json_decref(s);
}

void sb_cl_report(FILE *f, const struct sb_cl_result *r, const struct sb_cl_media *m)
{
	fprintf(f, "{\"code\":%d,\"reason\":", r->code);
	json_str(f, r->reason);
	fprintf(f,
	        ",\"answered\":%s,\"codec\":\"%s\","
	        "\"sent_s\":%.2f,\"received_s\":%.2f,\"rtp_sent\":%llu,"
	        "\"rtp_received\":%llu,\"rtp_lost\":%llu,\"rtp_invalid\":%llu,",
	        r->answered ? "true" : "false", sb_codec_name(m->codec),
	        (double)m->audio_samples_sent / SB_RATE_8K,
	        (double)m->rx_audio_samples / SB_RATE_8K, (unsigned long long)m->tx_packets,
	        (unsigned long long)m->rx_packets, (unsigned long long)sb_cl_media_rx_lost(m),
	        (unsigned long long)m->rx_invalid);
	/* The keys are 0-9 * # A-D: nothing to escape. */
	fprintf(f,
	        "\"dtmf_sent\":\"%s\",\"dtmf_received\":\"%s\",\"utterances\":%u,"
	        "\"hangup\":\"%s\",\"bye\":",
	        m->dtmf_sent, m->dtmf_received, m->utter.count, hangup_name(r->hangup));
	bye_json(f, r);
	fprintf(f, ",\"duration_s\":%.2f,", r->duration_s);
	fprintf(f, "\"srtp\":%s,\"srtp_rx_failed\":%llu,\"tampered\":%d}\n",
	        m->srtp ? "true" : "false", (unsigned long long)m->srtp_rx_failed, m->tampered);
	fflush(f);
}
