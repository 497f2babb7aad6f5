/* Call recording: the recorder thread writes one stereo WAV per recorded call from a
 * lock-free ring the call's media worker fills. Thread: the recorder's own (files); the
 * media worker of each call (sb_rec_open, sb_rec_put, sb_rec_close). Owns the recordings
 * from sb_rec_open on: their rings, windows and files.
 *
 * DESIGN
 * Alignment by positions: the media worker stamps every piece of audio with the time it
 * belongs to on its own monotonic clock, counted in samples from the recording's start: a
 * caller frame with the time its audio was heard (when the jitter buffer released it, less
 * its length), a frame sent to the caller with its 20 ms slot on the leg's schedule (silence
 * where nothing went out: a hold, a DTMF digit, a listening bot). Both channels go through
 * one ring, in the order they were made; the recorder places each at its position
 * (sb_wav_mix_put: appended while within 60 ms of it, a gap left silent, a channel that runs
 * ahead trimmed), so the channels can never drift apart by more than that whatever the
 * jitter, the caller's clock, holds or stalls, and a steady stream is written sample-exact.
 * The media side costs a copy and two atomics per frame: no allocation, lock or system
 * call; it wakes the recorder (eventfd) only when a recording starts or ends, and the
 * recorder drains every ring each SB_REC_POLL_MS.
 *
 * Files are written with stdio through a buffer of SB_REC_SYNC_MS of audio that only the
 * recorder empties: once that much time has passed or the buffer is full, it is flushed and
 * the header's sizes are rewritten to match (pwrite, the append position stays), so the file
 * is a valid WAV of what it holds at every moment but between those two calls, and a daemon
 * killed in the middle of a call (SIGKILL, the OOM killer) leaves the call up to the last
 * update. That costs a write and a pwrite of the header a second per file. At the end the
 * file, then its folder (for its name), are fsync'ed before the recording is logged as
 * finished; nothing is synced to disk before (a power cut in a call can lose more). */
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_SUBSYS "rec"
#include <sb/log.h>

#include <sb/recorder.h>
#include <sb/worker_thread.h>

#define REC_ID_MAX 64
#define REC_PATH_MAX 320 /* a folder of at most 200 bytes (config) and the call id */
/* The stdio buffer: the audio written between two header updates. */
#define REC_BUF_BYTES (SB_REC_SYNC_MS * SB_RATE_8K / 1000 * SB_WAV_FRAME_BYTES)

/* One piece of one channel, at most 20 ms. */
struct rec_frame {
	int64_t pos; /* samples from the recording's start */
	uint16_t samples;
	uint8_t ch; /* enum sb_rec_channel */
	bool silent;
	int16_t pcm[SB_FRAME_SAMPLES];
};

struct sb_rec {
	/* const after sb_rec_open */
	struct sb_recorder *r;
	int64_t t0_us;
	char id[REC_ID_MAX + 1];
	char path[REC_PATH_MAX];
	size_t folder_len; /* path[0..folder_len) names the folder */

	/* crossing threads */
	_Alignas(64) atomic_uint head; /* next slot to fill; written by the media worker */
	_Alignas(64) atomic_uint tail; /* next slot to read; written by the recorder */
	atomic_bool ended;             /* set by the media worker after its last frame */
	atomic_uint_fast64_t overruns; /* frames the media worker found no slot for */
	struct sb_rec *next_new;       /* on the recorder's list of new recordings */

	/* recorder */
	LIST_ENTRY(sb_rec) link;
	FILE *f;
	bool failed;          /* the file could not be created or written: frames are dropped */
	uint64_t data_bytes;  /* audio written */
	uint64_t lost;        /* frames dropped after a failure */
	uint64_t sized_bytes; /* audio in the file and described by its header */
	int64_t synced_ms;    /* when sized_bytes last caught up with data_bytes */
	struct sb_wav_mix mix;
	char *buf; /* the file's stdio buffer (REC_BUF_BYTES), the recorder's */
	struct rec_frame slots[SB_REC_RING_FRAMES];
};

struct sb_recorder {
	pthread_t thread;
	bool started;
	int efd; /* wakes the thread: a recording started or ended, quit */
	_Atomic(struct sb_rec *) incoming; /* new recordings, pushed by the media workers */
	atomic_bool quit;
	LIST_HEAD(, sb_rec) active; /* the thread's */
	struct sb_recorder_stats stats;
};

_Static_assert((SB_REC_RING_FRAMES & (SB_REC_RING_FRAMES - 1)) == 0, "a power of two");
_Static_assert(REC_BUF_BYTES >= SB_WAV_WINDOW_SAMPLES * SB_WAV_FRAME_BYTES,
               "the buffer holds the longest piece the window writes at once");

static void wake(struct sb_recorder *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error_errno(errno, "Cannot wake the recorder");
}

/* --- media worker side --------------------------------------------------------------- */

/* A recording asked for that cannot start (the caller logs it): counted as failed, as one
 * whose file cannot be created is, though it never reaches the recorder. */
static struct sb_rec *refuse(struct sb_recorder *r, struct sb_rec *rec)
{
	free(rec);
	atomic_fetch_add_explicit(&r->stats.failed, 1, memory_order_relaxed);
	return NULL;
}

struct sb_rec *sb_rec_open(struct sb_recorder *r, const char *folder, const char *id, int64_t t0_us)
{
	struct sb_rec *rec;

	if (!r)
		return NULL;
	if (!r->started || strlen(id) > REC_ID_MAX)
		return refuse(r, NULL);
	/* Its alignment keeps the ring's two indexes on lines of their own (malloc: 16 bytes). */
	rec = aligned_alloc(_Alignof(struct sb_rec), sizeof(*rec));
	if (!rec)
		return refuse(r, NULL);
	memset(rec, 0, sizeof(*rec));
	if (sb_wav_path(rec->path, sizeof(rec->path), folder, id) < 0)
		return refuse(r, rec);
	rec->r = r;
	rec->t0_us = t0_us;
	strcpy(rec->id, id);
	rec->folder_len = strlen(folder);
	sb_wav_mix_init(&rec->mix, NULL, NULL); /* the writer is set by the recorder */
	rec->next_new = atomic_load_explicit(&r->incoming, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&r->incoming, &rec->next_new, rec,
	                                              memory_order_release, memory_order_relaxed))
		;
	wake(r);
	return rec;
}

void sb_rec_put(struct sb_rec *rec, enum sb_rec_channel ch, int64_t t_us, const int16_t *pcm,
                unsigned n)
{
	int64_t pos = (t_us - rec->t0_us) * SB_RATE_8K / 1000000;
	unsigned head = atomic_load_explicit(&rec->head, memory_order_relaxed);

	while (n) {
		unsigned k = n < SB_FRAME_SAMPLES ? n : SB_FRAME_SAMPLES;
		unsigned tail = atomic_load_explicit(&rec->tail, memory_order_acquire);
		struct rec_frame *f = &rec->slots[head & (SB_REC_RING_FRAMES - 1)];

		if (head - tail >= SB_REC_RING_FRAMES) {
			atomic_fetch_add_explicit(&rec->overruns, 1, memory_order_relaxed);
		} else {
			f->pos = pos;
			f->samples = (uint16_t)k;
			f->ch = (uint8_t)ch;
			f->silent = !pcm;
			if (pcm)
				memcpy(f->pcm, pcm, k * sizeof(*pcm));
			atomic_store_explicit(&rec->head, ++head, memory_order_release);
		}
		pos += k;
		pcm = pcm ? pcm + k : NULL;
		n -= k;
	}
}

struct sb_rec *sb_rec_close(struct sb_rec *rec)
{
	struct sb_recorder *r;

	if (!rec)
		return NULL;
	r = rec->r; /* rec is the recorder's once ended is set */
	atomic_store_explicit(&rec->ended, true, memory_order_release);
	wake(r);
	return NULL;
}

/* --- recorder thread: files ---------------------------------------------------------- */

/* Ends writing after a failure: logged once, the rest of the call's audio is dropped. */
static void fail(struct sb_rec *rec, const char *what, int err)
{
	if (!rec->failed)
		log_warn("Cannot %s %s: %s; the rest of this call's recording is dropped", what,
		         rec->path, strerror(err));
	rec->failed = true;
}

/* Writes the header of a file holding data bytes of audio. */
static void put_header(struct sb_rec *rec, int fd, uint64_t data)
{
	uint8_t hdr[SB_WAV_HEADER_BYTES];

	/* One call rewrites both sizes: a kill never leaves one of them behind the other. */
	sb_wav_header(hdr, (uint32_t)data);
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		fail(rec, "write the header of", errno ? errno : EIO);
}

/* Writes the sizes of the audio the file holds into its header. After a write error (a full
 * disk) that is less than was handed to stdio, and may end in part of a sample: the file is
 * cut to whole samples and described as it is, so what was recorded stays playable. */
static void write_sizes(struct sb_rec *rec, int fd)
{
	struct stat st;
	uint64_t data = 0;

	if (fstat(fd, &st) < 0) {
		fail(rec, "read the size of", errno);
		return;
	}
	if (st.st_size > SB_WAV_HEADER_BYTES)
		data = (uint64_t)(st.st_size - SB_WAV_HEADER_BYTES) / SB_WAV_FRAME_BYTES *
		       SB_WAV_FRAME_BYTES;
	if (data > SB_WAV_MAX_DATA_BYTES)
		data = SB_WAV_MAX_DATA_BYTES;
	rec->data_bytes = data;
	if ((uint64_t)st.st_size != SB_WAV_HEADER_BYTES + data &&
	    ftruncate(fd, (off_t)(SB_WAV_HEADER_BYTES + data)) < 0)
		fail(rec, "cut", errno);
	put_header(rec, fd, data);
}

/* Hands the buffered audio to the file and describes it in the header. While all goes well
 * the file then holds exactly data_bytes of audio; after a failure it is measured instead. */
static void sync_file(struct sb_rec *rec)
{
	int fd = fileno(rec->f);

	/* A failed flush drops what it could not write (glibc), so fclose writes no more. */
	if (fflush(rec->f) != 0)
		fail(rec, "write", errno);
	if (rec->failed)
		write_sizes(rec, fd);
	else
		put_header(rec, fd, rec->data_bytes);
	rec->sized_bytes = rec->data_bytes;
	rec->synced_ms = sb_now_ms();
}

static void on_wav(void *arg, const int16_t *pcm, size_t n)
{
	struct sb_rec *rec = arg;
	size_t bytes = n * SB_WAV_FRAME_BYTES;

	if (rec->failed)
		return;
	/* stdio never flushes on its own: the file grows only where its header follows. */
	if (rec->data_bytes - rec->sized_bytes + bytes > REC_BUF_BYTES) {
		sync_file(rec);
		if (rec->failed)
			return;
	}
	if (rec->data_bytes + bytes > SB_WAV_MAX_DATA_BYTES)
		fail(rec, "write more than 4 GiB to", EFBIG);
	else if (fwrite(pcm, 1, bytes, rec->f) != bytes)
		fail(rec, "write", errno);
	else
		rec->data_bytes += bytes;
}

static void open_file(struct sb_rec *rec)
{
	uint8_t hdr[SB_WAV_HEADER_BYTES];
	int fd = open(rec->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
	int e = errno;

	if (fd >= 0 && !(rec->f = fdopen(fd, "w"))) {
		e = errno;
		close(fd);
		unlink(rec->path);
	}
	if (!rec->f) {
		/* A missing or read-only folder is not worth more than a line per call. */
		log_warn("Cannot record the call in %.*s: cannot create %s: %s; the call goes "
		         "on without recording",
		         (int)rec->folder_len, rec->path, strrchr(rec->path, '/') + 1, strerror(e));
		rec->failed = true;
		return;
	}
	/* Allocated here, on the recorder's thread, not with the call on the media thread. */
	rec->buf = malloc(REC_BUF_BYTES);
	if (!rec->buf) {
		fail(rec, "buffer", ENOMEM);
		return;
	}
	setvbuf(rec->f, rec->buf, _IOFBF, REC_BUF_BYTES);
	sb_wav_mix_init(&rec->mix, on_wav, rec);
	sb_wav_header(hdr, 0); /* an empty WAV until audio is written */
	if (fwrite(hdr, 1, sizeof(hdr), rec->f) != sizeof(hdr) || fflush(rec->f) != 0)
		fail(rec, "write", errno);
	rec->synced_ms = sb_now_ms();
}

/* A recording that may not survive a power cut: logged even after an earlier failure (fail()
 * logs only the first), and counted as failed. */
static void sync_failed(struct sb_rec *rec, const char *what, int err)
{
	log_warn("Cannot sync %s to disk: %s (errno %d); the recording may be incomplete or "
	         "missing after a power failure",
	         what, strerror(err), err);
	rec->failed = true;
}

/* Writes the entry that names the file to disk: syncing a file does not sync the folder
 * that names it (fsync(2)), and a new file's name is lost with its folder's cache. */
static void sync_folder(struct sb_rec *rec)
{
	char folder[REC_PATH_MAX];
	int fd;

	snprintf(folder, sizeof(folder), "%.*s", (int)rec->folder_len, rec->path);
	fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		sync_failed(rec, folder, errno);
	if (fd >= 0)
		close(fd);
}

/* Writes the file's audio and sizes, then the file and its name to disk, and closes it, so
 * that a recording logged as finished is on disk as it was logged. */
static void close_file(struct sb_rec *rec)
{
	int fd = fileno(rec->f);

	sync_file(rec);
	if (fsync(fd) < 0)
		sync_failed(rec, rec->path, errno);
	if (fclose(rec->f) != 0)
		fail(rec, "close", errno);
	rec->f = NULL;
	sync_folder(rec);
}

/* Places the frames the media worker has put so far (drops them after a failure). */
static void drain(struct sb_rec *rec)
{
	unsigned tail = atomic_load_explicit(&rec->tail, memory_order_relaxed);
	unsigned head = atomic_load_explicit(&rec->head, memory_order_acquire);

	for (; tail != head; tail++) {
		const struct rec_frame *f = &rec->slots[tail & (SB_REC_RING_FRAMES - 1)];

		if (rec->failed)
			rec->lost++;
		else
			sb_wav_mix_put(&rec->mix, f->ch, f->pos, f->silent ? NULL : f->pcm,
			               f->samples);
		atomic_store_explicit(&rec->tail, tail + 1, memory_order_release);
	}
}

static void finish(struct sb_recorder *r, struct sb_rec *rec)
{
	uint64_t over = atomic_load_explicit(&rec->overruns, memory_order_relaxed);

	if (rec->f && !rec->failed)
		sb_wav_mix_flush(&rec->mix);
	if (rec->f)
		close_file(rec);
	log_info("Recording %s: %.1f s%s, %" PRIu64 " frames dropped (recorder late), %" PRIu64
	         " out of step, %" PRIu64 " not written",
	         rec->path, (double)rec->data_bytes / (SB_RATE_8K * SB_WAV_FRAME_BYTES),
	         rec->failed ? " (incomplete)" : "", over, rec->mix.ahead_drops, rec->lost);
	atomic_fetch_add_explicit(rec->failed ? &r->stats.failed : &r->stats.recordings, 1,
	                          memory_order_relaxed);
	atomic_fetch_add_explicit(&r->stats.overruns, over, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->stats.lost, rec->lost, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->stats.out_of_step, rec->mix.ahead_drops,
	                          memory_order_relaxed);
	LIST_REMOVE(rec, link);
	free(rec->buf);
	free(rec);
}

/* Creates the files of the recordings that started since the last turn. */
static void take_new(struct sb_recorder *r)
{
	struct sb_rec *rec = atomic_exchange_explicit(&r->incoming, NULL, memory_order_acquire);

	while (rec) {
		struct sb_rec *next = rec->next_new;

		sb_log_ctx_set(rec->id);
		open_file(rec);
		sb_log_ctx_set(NULL);
		LIST_INSERT_HEAD(&r->active, rec, link);
		rec = next;
	}
}

/* Drains every ring; finishes the recordings that ended (all of them when quitting: no
 * media worker runs any more). */
static void service(struct sb_recorder *r, bool quit)
{
	struct sb_rec *rec, *next;

	for (rec = LIST_FIRST(&r->active); rec; rec = next) {
		bool ended = quit || atomic_load_explicit(&rec->ended, memory_order_acquire);

		next = LIST_NEXT(rec, link);
		sb_log_ctx_set(rec->id);
		drain(rec);
		if (ended)
			finish(r, rec);
		else if (rec->f && !rec->failed && rec->data_bytes != rec->sized_bytes &&
		         sb_now_ms() - rec->synced_ms >= SB_REC_SYNC_MS)
			sync_file(rec);
		sb_log_ctx_set(NULL);
	}
}

static void *run(void *arg)
{
	struct sb_recorder *r = arg;

	for (;;) {
		bool quit = atomic_load_explicit(&r->quit, memory_order_acquire);
		struct pollfd p = {.fd = r->efd, .events = POLLIN};
		uint64_t v;

		take_new(r);
		service(r, quit);
		if (quit)
			break;
		if (poll(&p, 1, LIST_EMPTY(&r->active) ? -1 : SB_REC_POLL_MS) > 0 &&
		    read(r->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error_errno(errno, "Cannot read the recorder's eventfd");
	}
	return NULL;
}

/* --- life ------------------------------------------------------------------------------ */

int sb_recorder_new(struct sb_recorder **ret)
{
	struct sb_recorder *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->efd < 0) {
		int e = errno;

		free(r);
		return -e;
	}
	LIST_INIT(&r->active);
	*ret = r;
	return 0;
}

int sb_recorder_start(struct sb_recorder *r)
{
	int e = sb_worker_thread_start(&r->thread, run, r, "sb-rec", 0);

	if (e < 0)
		return e;
	r->started = true;
	return 0;
}

void sb_recorder_stop(struct sb_recorder *r)
{
	if (!r || !r->started)
		return;
	atomic_store_explicit(&r->quit, true, memory_order_release);
	wake(r);
	pthread_join(r->thread, NULL);
	r->started = false;
}

struct sb_recorder *sb_recorder_free(struct sb_recorder *r)
{
	if (!r)
		return NULL;
	close(r->efd);
	free(r);
	return NULL;
}

const struct sb_recorder_stats *sb_recorder_stats(const struct sb_recorder *r)
{
	return &r->stats;
}
