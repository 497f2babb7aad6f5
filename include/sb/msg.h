/* Command types carried by the threads' queues (struct sb_msg in mq.h). Thread: any. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include <sb/route.h>
#include <sb/sdp_neg.h>
#include <sb/srtp_ctx.h>

enum sb_msg_type {
	/* control → media worker */
	SB_MSG_MEDIA_ATTACH, /* data = struct sb_media_attach: start the call's media leg */
	SB_MSG_MEDIA_DETACH, /* close the leg; reply MEDIA_DETACHED */
	SB_MSG_MEDIA_UPDATE, /* data = struct sb_media_update: a re-INVITE changed the media */
	SB_MSG_MEDIA_BRIDGE, /* data = struct sb_media_bridge: relay caller ⇄ agent from now on */
	/* control → ws worker */
	SB_MSG_BOT_CONNECT, /* open the bot socket for the call */
	SB_MSG_BOT_DETACH,  /* send stop (text = reason) if connected, close; reply BOT_DETACHED;
	                       arg = 1: the media worker has let go of the call (call's up_left) */
	SB_MSG_BOT_DTMF,    /* arg = digit | duration_ms << 8: a key the caller sent by INFO */
	SB_MSG_BOT_TRANSFER_FAILED, /* text = target, arg = SIP status, data = reason (char *) */
	/* media worker → control */
	SB_MSG_MEDIA_DETACHED,
	SB_MSG_RTP_TIMEOUT, /* no RTP for rtp.timeout_s */
	/* ws worker → control */
	SB_MSG_BOT_CONNECTED, /* handshake done, connected + start queued */
	SB_MSG_BOT_FAILED,    /* could not connect after the retries; text = reason */
	SB_MSG_BOT_CLOSED,    /* the bot closed an established socket */
	SB_MSG_BOT_HANGUP,    /* the bot sent a hangup event */
	SB_MSG_BOT_TRANSFER,  /* the bot asked for a transfer: data = struct sb_transfer_req */
	SB_MSG_BOT_DETACHED,
	/* control → webhook */
	SB_MSG_WEBHOOK_RECORD, /* text = the JSON body (arg = its length), data = the call id */
	/* admin → control */
	SB_MSG_ADMIN_HANGUP, /* text = a call id: end that call as a bot's hangup does */
	SB_MSG_ADMIN_DRAIN,  /* start a graceful drain */
	SB_MSG_ADMIN_RELOAD, /* arg = request number: reload, answer with ADMIN_REPLY */
	/* control → admin */
	SB_MSG_ADMIN_REPLY, /* arg = request number, data = struct sb_admin_reply (admin.h) */
	/* any → a worker */
	SB_MSG_QUIT,
};

/* SB_MSG_MEDIA_ATTACH's data: the sockets the leg takes over and its SRTP keys (suite
 * SB_SRTP_NONE: plain RTP), which the leg wipes once its contexts hold them. */
struct sb_media_attach {
	int rtp_fd, rtcp_fd;
	struct sb_srtp_keys srtp;
};

/* SB_MSG_MEDIA_UPDATE's data (offer's key material wiped); with rekey, the caller's new SRTP
 * key (wiped by the leg once used). */
struct sb_media_update {
	struct sb_sdp_offer offer;
	struct sockaddr_storage remote;
	socklen_t remote_len;
	bool rekey;
	struct sb_srtp_key rx;
};

/* SB_MSG_MEDIA_BRIDGE's data: the agent's leg of a bridged transfer. */
struct sb_media_bridge {
	int rtp_fd, rtcp_fd;       /* the leg takes them over */
	struct sb_sdp_offer agent; /* the agent's SDP answer */
	struct sockaddr_storage remote;
	socklen_t remote_len;
	bool listen; /* the bot keeps receiving both parties, mixed */
};

#define SB_TRANSFER_REQ_HEADERS 8

/* SB_MSG_BOT_TRANSFER's data, one allocation: the target (NULL: the trunk's destination) and
 * the bot's headers point into text. */
struct sb_transfer_req {
	const char *to;
	struct sb_kv headers[SB_TRANSFER_REQ_HEADERS];
	size_t n_headers;
	char text[];
};
