/* What log.c and log_writer.c share: the line formatter (text and JSON) and the bounded
 * queue of preformatted lines between any logging thread and the writer thread.
 * Thread: any (see each prototype). */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One line at most, newline and terminating NUL included; longer ones end in "…". */
#define SB_LOG_LINE_MAX 1024
/* Lines the writer thread's queue holds (a power of two): about 1 MiB. */
#define SB_LOG_QUEUE_LINES 1024
/* At exit, how long the lines still queued, and those written directly after them, may wait
 * for stderr to take them; the rest are dropped, so a stalled journald or a pipe nobody reads
 * cannot hold up the exit. */
#define SB_LOG_STOP_MS 2000

/* One event, before formatting. */
struct sb_log_rec {
	int level;          /* enum sb_log_level */
	int format;         /* enum sb_log_format */
	bool journal;       /* stderr is the journal: "<N>" prefix, no local time in text */
	int64_t unix_ms;    /* wall clock */
	int32_t utc_off_s;  /* local time minus UTC, for the text format's time of day */
	const char *subsys; /* NUL-terminated; at most 32 bytes are shown */
	const char *call;   /* NULL without a call context; at most 128 bytes are shown */
	const char *msg;    /* any bytes up to the NUL */
};

/* Thread: any (pure). Formats rec into buf (size >= 512) as one line ending in '\n' and a
 * NUL; returns its length without the NUL. JSON is always valid: strings are escaped and
 * invalid UTF-8 becomes U+FFFD. A line that does not fit is cut and ends in "…". */
size_t sb_log_format_line(char *buf, size_t size, const struct sb_log_rec *rec);

/* Thread: any (pure). Calendar date and time of day (UTC) of a wall-clock time, without the
 * libc time zone lock. */
void sb_log_civil(int64_t unix_s, int *year, unsigned *month, unsigned *day, unsigned *sec_of_day);

/* One queued line. `seq` says whose turn the slot is (producer or consumer); the rest
 * belongs to the side whose turn it is. */
struct sb_log_slot {
	atomic_size_t seq;
	size_t _pos; /* producer: the queue position it claimed */
	uint32_t len;
	char line[SB_LOG_LINE_MAX];
};

struct sb_log_queue {
	_Alignas(64) atomic_size_t tail; /* next position to claim, shared by producers */
	_Alignas(64) size_t head;        /* consumer only: next position to read */
	atomic_uint_fast64_t dropped;    /* lines refused since the consumer last took the count */
	size_t mask;
	struct sb_log_slot *slots;
};

/* Thread: any. A queue of `capacity` slots (a power of two >= 2); -EINVAL or -ENOMEM. */
int sb_log_queue_new(struct sb_log_queue **ret, unsigned capacity);
/* Thread: the only one still using q. Frees q (NULL allowed); returns NULL. */
struct sb_log_queue *sb_log_queue_free(struct sb_log_queue *q);
/* Thread: any producer. A free slot to fill, or NULL when the queue is full (the line is
 * counted as dropped). Never blocks, never allocates. */
struct sb_log_slot *sb_log_queue_claim(struct sb_log_queue *q);
/* Thread: the producer that claimed s. Hands s, holding len bytes, to the consumer. */
void sb_log_queue_publish(struct sb_log_slot *s, size_t len);
/* Thread: the consumer. The i-th oldest line (0: the oldest) if it and every older one are
 * complete, else NULL (fewer lines queued, or a claimer is still writing one). */
struct sb_log_slot *sb_log_queue_peek(struct sb_log_queue *q, size_t i);
/* Thread: the consumer. Gives the n oldest slots back to the producers. */
void sb_log_queue_release(struct sb_log_queue *q, size_t n);
/* Thread: the consumer. Lines dropped since the last call; resets the count. */
uint64_t sb_log_queue_take_dropped(struct sb_log_queue *q);

/* Thread: any. Formats one line stamped now, in the current format, into buf (size >= 512);
 * returns its length. */
size_t sb_log_format_now(char *buf, size_t size, int level, const char *subsys, const char *call,
                         const char *msg);
/* Thread: any; may take the libc time zone lock, so only where blocking is allowed. Reads
 * the local time's offset from UTC again (daylight saving time) for the text format. */
void sb_log_tz_refresh(void);

/* Thread: any. Where a line goes: a slot of the running writer's queue (queued, non-NULL),
 * nothing (queued, NULL: the queue is full and the line is counted as dropped), or the
 * caller writes it itself (not queued: no writer runs). Always pair with
 * sb_log_writer_done. */
struct sb_log_slot *sb_log_writer_claim(bool *queued);
/* Thread: the caller of sb_log_writer_claim. Publishes s (if not NULL) with len bytes and
 * wakes the writer if it sleeps. */
void sb_log_writer_done(struct sb_log_slot *s, size_t len);
/* Thread: any. Writes all of buf to fd, retrying after EINTR and short writes. */
int sb_log_write_all(int fd, const char *buf, size_t len);
/* Thread: any; blocks. Writes one line (buf, len bytes) to stderr when no writer runs: all of
 * it before the writer starts; after a stop, only if stderr takes it by the stop's deadline
 * (SB_LOG_STOP_MS), else it is counted as dropped. */
void sb_log_writer_direct(const char *buf, size_t len);
