/* Parsed form of a test-bot script, shared by the loader (script_load.c) and the runner
 * (script.c). Immutable after start-up, so every connection reads it without copying.
 */
#pragma once

#include "testbot.h"

enum sb_tb_act_type {
	SB_TB_ACT_WAIT_MS,
	SB_TB_ACT_WAIT_EVENT,
	SB_TB_ACT_SEND,
	SB_TB_ACT_SEND_RAW,
	SB_TB_ACT_TONE,
	SB_TB_ACT_PCM,
	SB_TB_ACT_CLOSE,
};

struct sb_tb_action {
	enum sb_tb_act_type type;
	long long ms;       /* wait_ms, tone */
	json_t *obj;        /* send */
	char *text;         /* send_raw */
	int counter, named; /* wait_event: index into counters[] or named[], else -1 */
	unsigned count;
	double hz, amplitude;
	size_t chunk_bytes; /* tone, pcm: PCM bytes a message; 0 = sb_tb_default_chunk() */
	enum sb_tb_key key;
	uint8_t *pcm;
	size_t pcm_len;
	int code;
};

/* wait_event with a name: an event whose object member <event>.name equals name. */
struct sb_tb_named {
	char *event, *name;
};

struct sb_tb_script {
	struct sb_tb_action *acts;
	size_t n, cap;
	char *counters[SB_TB_MAX_COUNTERS];
	size_t n_counters;
	struct sb_tb_named named[SB_TB_MAX_NAMED];
	size_t n_named;
};
