/* Utterances: bursts of received audio. A 20 ms block is loud when its RMS reaches
 * SB_CL_UTTER_RMS (well above G.711 idle noise, well below speech); a burst begins with a loud
 * block and ends after SB_CL_UTTER_GAP_BLOCKS quiet ones in a row. It is what a caller can
 * see of a bot's turns. Pure. Thread: main. Owns nothing.
 */
#include "call.h"

static void block_done(struct sb_cl_utter *u)
{
	/* mean square against the threshold squared: no square root needed */
	bool loud = u->energy >= (int64_t)SB_CL_UTTER_RMS * SB_CL_UTTER_RMS * SB_CL_UTTER_BLOCK;

	u->energy = 0;
	u->fill = 0;
	if (loud) {
		if (!u->in_burst)
			u->count++;
		u->in_burst = true;
		u->quiet = 0;
	} else if (u->in_burst && ++u->quiet >= SB_CL_UTTER_GAP_BLOCKS) {
		u->in_burst = false;
	}
}

void sb_cl_utter_feed(struct sb_cl_utter *u, const int16_t *pcm, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		u->energy += (int64_t)pcm[i] * pcm[i];
		if (++u->fill == SB_CL_UTTER_BLOCK)
			block_done(u);
	}
}
