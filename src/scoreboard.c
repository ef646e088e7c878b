/*
 * The scoreboard's memory, and the totals read from it.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


#include "clock.h"
#include "scoreboard.h"

/*
 * The histograms' bounds, in ms and in bytes: from a quick echo test to
 * an hour's session, from a health check's few bytes to a gigabyte's
 * stream.
 */
const uint64_t	 scoreboard_duration_bounds[DURATION_BUCKETS - 1] = {
	1, 10, 100, 1000, 10000, 60000, 600000, 3600000
};
const uint64_t	 scoreboard_size_bounds[SIZE_BUCKETS - 1] = {
	64, 1024, 16384, 262144, 4194304, 67108864, 1073741824
};

/* The same pages, mapped read-only: for the metrics process. */
static const struct scoreboard	*readonly;
static struct scoreboard	*writable;

/*
 * Shared, and mapped before the first fork: every worker sees the same
 * pages.  Only the pages of slots in use are ever touched, so the
 * table's size costs address space, not memory.
 *
 * The pages are a sealed memfd's, mapped twice: read and write for the
 * master and the workers, read-only for the metrics process, which
 * parses requests from the network and so must not be able to change
 * what the master acts on.  F_SEAL_FUTURE_WRITE leaves the first
 * mapping writable but makes the kernel refuse any new writable one,
 * and clears the read-only mapping's right to become writable
 * (mprotect(2) fails): a process that unmaps the first mapping
 * (scoreboard_drop_writable()) has no way left to write.  No
 * descriptor is kept.
 */
struct scoreboard *
scoreboard_create(void)
{
	struct scoreboard	*sb;
	void			*ro;
	int			 fd;

	if ((fd = memfd_create("echod-scoreboard", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1)
		return NULL;
	if (ftruncate(fd, sizeof(*sb)) == -1 ||
	    (sb = mmap(NULL, sizeof(*sb), PROT_READ | PROT_WRITE, MAP_SHARED,
	    fd, 0)) == MAP_FAILED) {
		close(fd);
		return NULL;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) == -1 ||
	    (ro = mmap(NULL, sizeof(*sb), PROT_READ, MAP_SHARED, fd, 0)) ==
	    MAP_FAILED) {
		munmap(sb, sizeof(*sb));
		close(fd);
		return NULL;
	}
	close(fd);
	readonly = ro;
	writable = sb;
	sb->started = clock_ms();
	sb->start_time = time(NULL);
	return sb;
}

const struct scoreboard *
scoreboard_readonly(void)
{
	return readonly;
}

/* In the metrics process: only the read-only mapping is left. */
int
scoreboard_drop_writable(void)
{
	return munmap(writable, sizeof(*writable));
}

/*
 * A connection that ended, in its worker's histograms: a few compares
 * and stores, no system call.
 */
void
scoreboard_observe(struct slot *s, uint64_t ms, uint64_t bytes)
{
	int	 i;

	for (i = 0; i < DURATION_BUCKETS - 1 &&
	    ms > scoreboard_duration_bounds[i]; i++)
		;
	__atomic_store_n(&s->duration_buckets[i], s->duration_buckets[i] + 1,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&s->duration_sum, s->duration_sum + ms,
	    __ATOMIC_RELAXED);
	for (i = 0; i < SIZE_BUCKETS - 1 && bytes > scoreboard_size_bounds[i];
	    i++)
		;
	__atomic_store_n(&s->size_buckets[i], s->size_buckets[i] + 1,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&s->size_sum, s->size_sum + bytes, __ATOMIC_RELAXED);
}

/*
 * The master, for a worker it has reaped: its counters move to the
 * retired ones and the slot is cleared, inside fold_seq's odd stretch
 * (see scoreboard_totals()).
 */
void
scoreboard_fold(struct scoreboard *sb, struct slot *s)
{
	int	 i;

	__atomic_store_n(&sb->fold_seq, sb->fold_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	sb->retired_connections += s->connections;
	sb->retired_bytes_in += s->bytes_in;
	sb->retired_bytes_out += s->bytes_out;
	sb->retired_timeouts += s->timeouts;
	sb->retired_refused += s->refused;
	sb->retired_errors += s->errors;
	sb->retired_resets += s->resets;
	sb->retired_accepted += s->accepted;
	sb->retired_closed += s->closed;
	for (i = 0; i < DURATION_BUCKETS; i++)
		sb->retired_duration_buckets[i] += s->duration_buckets[i];
	sb->retired_duration_sum += s->duration_sum;
	for (i = 0; i < SIZE_BUCKETS; i++)
		sb->retired_size_buckets[i] += s->size_buckets[i];
	sb->retired_size_sum += s->size_sum;
	if (s->kind == KIND_UDP) {
		sb->retired_datagrams_in += s->datagrams_in;
		sb->retired_datagrams_out += s->datagrams_out;
		sb->retired_udp_bytes_in += s->bytes_in;
		sb->retired_udp_bytes_out += s->bytes_out;
		for (i = 0; i < UDP_DROP_NREASONS; i++)
			sb->retired_drops[i] += s->drops[i];
	}
	memset(s, 0, sizeof(*s));
	__atomic_store_n(&sb->fold_seq, sb->fold_seq + 1, __ATOMIC_RELEASE);
}

/*
 * Slot i's bits in the pool map: from old to new, in one atomic
 * operation.  Only the slot's own worker calls this, and it knows its
 * bits, so an exclusive or makes the change whatever the other slots'
 * workers do to the rest of the word meanwhile.  Sequentially
 * consistent, as the loads of scoreboard_map_count() are: of two
 * workers that change their bits at once and then count, at least one
 * sees the other's change (worker.c relies on it).
 */
void
scoreboard_map_set(struct scoreboard *sb, uint32_t i, unsigned old,
    unsigned new)
{
	uint64_t	 flip = (uint64_t)(old ^ new) <<
			    (i % MAP_SLOTS_PER_WORD * MAP_BITS);

	if (flip != 0)
		__atomic_fetch_xor(&sb->pool_map[i / MAP_SLOTS_PER_WORD], flip,
		    __ATOMIC_SEQ_CST);
}

/* The master, for a worker it has reaped: whatever its bits were. */
void
scoreboard_map_clear(struct scoreboard *sb, uint32_t i)
{
	uint64_t	 mask = (uint64_t)(MAP_IDLE | MAP_BUSY) <<
			    (i % MAP_SLOTS_PER_WORD * MAP_BITS);

	__atomic_fetch_and(&sb->pool_map[i / MAP_SLOTS_PER_WORD], ~mask,
	    __ATOMIC_SEQ_CST);
}

/* The low bit of every slot's pair: MAP_IDLE; shifted by one, MAP_BUSY. */
#define MAP_IDLE_BITS	0x5555555555555555ULL

/*
 * The bits set in x, which has at most the low bit of each pair set:
 * the sum of its 2-bit fields, added up in place.  No call, as
 * __builtin_popcountll() makes where the base instruction set has no
 * popcount instruction.
 */
static inline uint32_t
pairs_set(uint64_t x)
{
	x = (x & 0x3333333333333333ULL) + (x >> 2 & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/*
 * How many workers are idle and how many busy: the bits set in the words
 * of the slots in use.  No slot is read.
 */
void
scoreboard_map_count(const struct scoreboard *sb, struct map_count *mc)
{
	uint32_t	 i, words, idle = 0, busy = 0;
	uint64_t	 w;

	words = (__atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE) +
	    MAP_SLOTS_PER_WORD - 1) / MAP_SLOTS_PER_WORD;
	for (i = 0; i < words; i++) {
		w = __atomic_load_n(&sb->pool_map[i], __ATOMIC_SEQ_CST);
		idle += pairs_set(w & MAP_IDLE_BITS);
		busy += pairs_set(w >> 1 & MAP_IDLE_BITS);
	}
	mc->idle = idle;
	mc->busy = busy;
}

/*
 * How many busy workers other than slot self serve a connection from
 * the address key that they took at since (ms) or before, counted up to
 * most: only the slots the pool map says are busy are read.  A worker writes its client's key before it sets
 * its busy bit (worker.c), so a slot seen busy shows the key of the
 * connection it serves, or, if it has already moved on to the next
 * one, that one's: one more or less, as when two connections from one
 * address arrive at once.
 */
uint32_t
scoreboard_peers(const struct scoreboard *sb, const uint8_t key[16],
    uint32_t self, int64_t since, uint32_t most)
{
	const struct slot	*s;
	uint32_t		 i, words, slot, n = 0;
	uint64_t		 busy;

	words = (__atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE) +
	    MAP_SLOTS_PER_WORD - 1) / MAP_SLOTS_PER_WORD;
	for (i = 0; i < words; i++) {
		busy = __atomic_load_n(&sb->pool_map[i], __ATOMIC_SEQ_CST) >>
		    1 & MAP_IDLE_BITS;
		while (busy != 0) {
			slot = i * MAP_SLOTS_PER_WORD +
			    __builtin_ctzll(busy) / MAP_BITS;
			busy &= busy - 1;
			s = &sb->slots[slot];
			if (slot != self && memcmp(s->peer_key, key, 16) == 0 &&
			    __atomic_load_n(&s->since, __ATOMIC_RELAXED) <=
			    since && ++n >= most)
				return n;
		}
	}
	return n;
}

#define LOAD(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

static void
read_totals(const struct scoreboard *sb, struct totals *t)
{
	uint32_t	 i, j, high;

	t->connections = LOAD(sb->retired_connections);
	t->bytes_in = LOAD(sb->retired_bytes_in);
	t->bytes_out = LOAD(sb->retired_bytes_out);
	t->timeouts = LOAD(sb->retired_timeouts);
	t->refused = LOAD(sb->retired_refused);
	t->errors = LOAD(sb->retired_errors);
	t->resets = LOAD(sb->retired_resets);
	t->accepted = LOAD(sb->retired_accepted);
	t->closed = LOAD(sb->retired_closed);
	for (j = 0; j < DURATION_BUCKETS; j++)
		t->duration_buckets[j] = LOAD(sb->retired_duration_buckets[j]);
	t->duration_sum = LOAD(sb->retired_duration_sum);
	for (j = 0; j < SIZE_BUCKETS; j++)
		t->size_buckets[j] = LOAD(sb->retired_size_buckets[j]);
	t->size_sum = LOAD(sb->retired_size_sum);
	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		t->connections += LOAD(s->connections);
		t->bytes_in += LOAD(s->bytes_in);
		t->bytes_out += LOAD(s->bytes_out);
		t->timeouts += LOAD(s->timeouts);
		t->refused += LOAD(s->refused);
		t->errors += LOAD(s->errors);
		t->resets += LOAD(s->resets);
		t->accepted += LOAD(s->accepted);
		t->closed += LOAD(s->closed);
		for (j = 0; j < DURATION_BUCKETS; j++)
			t->duration_buckets[j] += LOAD(s->duration_buckets[j]);
		t->duration_sum += LOAD(s->duration_sum);
		for (j = 0; j < SIZE_BUCKETS; j++)
			t->size_buckets[j] += LOAD(s->size_buckets[j]);
		t->size_sum += LOAD(s->size_sum);
	}
	t->errors += t->resets;
}

/*
 * Everything served, by the live workers and the reaped ones.  A read
 * that a fold overlapped (fold_seq odd before, or changed after) is
 * made again: the master folds one worker in a few hundred
 * instructions, so a reader waits that long, unless the master is
 * preempted or has died mid-fold: then, after FOLD_TRIES, the last
 * read is taken as it is.
 */
#define FOLD_TRIES	1000000

static void
fold_read(const struct scoreboard *sb, void (*read)(const struct scoreboard *,
    void *), void *t)
{
	uint32_t	 seq;
	int		 tries;

	for (tries = 0;; tries++) {
		seq = __atomic_load_n(&sb->fold_seq, __ATOMIC_ACQUIRE);
		if ((seq & 1) && tries < FOLD_TRIES)
			continue;
		read(sb, t);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&sb->fold_seq, __ATOMIC_RELAXED) == seq ||
		    tries >= FOLD_TRIES)
			return;
	}
}

static void
read_totals_any(const struct scoreboard *sb, void *t)
{
	read_totals(sb, t);
}

void
scoreboard_totals(const struct scoreboard *sb, struct totals *t)
{
	fold_read(sb, read_totals_any, t);
}

/*
 * The UDP workers' counts, by the same fold_seq retry: read while the
 * master folds a reaped UDP worker, the sum would miss or double it,
 * and a counter would go down.
 */
static void
read_udp_totals(const struct scoreboard *sb, void *arg)
{
	struct udp_totals	*t = arg;
	uint32_t		 i, high, r;

	t->datagrams_in = LOAD(sb->retired_datagrams_in);
	t->datagrams_out = LOAD(sb->retired_datagrams_out);
	t->bytes_in = LOAD(sb->retired_udp_bytes_in);
	t->bytes_out = LOAD(sb->retired_udp_bytes_out);
	for (r = 0; r < UDP_DROP_NREASONS; r++)
		t->drops[r] = LOAD(sb->retired_drops[r]);
	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		if (__atomic_load_n(&s->kind, __ATOMIC_RELAXED) != KIND_UDP)
			continue;
		t->datagrams_in += __atomic_load_n(&s->datagrams_in,
		    __ATOMIC_RELAXED);
		t->datagrams_out += __atomic_load_n(&s->datagrams_out,
		    __ATOMIC_RELAXED);
		t->bytes_in += __atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED);
		t->bytes_out += __atomic_load_n(&s->bytes_out,
		    __ATOMIC_RELAXED);
		for (r = 0; r < UDP_DROP_NREASONS; r++)
			t->drops[r] += __atomic_load_n(&s->drops[r],
			    __ATOMIC_RELAXED);
	}
}

void
scoreboard_udp_totals(const struct scoreboard *sb, struct udp_totals *t)
{
	fold_read(sb, read_udp_totals, t);
}

/*
 * A lock held for a few instructions.  It holds the time it was taken:
 * a worker killed while holding it (kill -9) leaves it taken, and a
 * lock older than RATE_LOCK_STALE_MS is taken over, so that one death
 * cannot stop every worker's answers to a source for good.
 */
#define RATE_LOCK_STALE_MS	100

static void
rate_lock(int64_t *lock, int64_t now)
{
	int64_t	 held;

	if (now <= 0)
		now = 1;
	for (;;) {
		held = 0;
		if (__atomic_compare_exchange_n(lock, &held, now, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		if (now - held > RATE_LOCK_STALE_MS &&
		    __atomic_compare_exchange_n(lock, &held, now, 0,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
}

static void
rate_unlock(int64_t *lock)
{
	__atomic_store_n(lock, 0, __ATOMIC_RELEASE);
}

/* FNV-1a of a key: where its entries begin in the table. */
static uint32_t
rate_hash(const uint8_t key[16])
{
	uint32_t	 h = 2166136261u;
	size_t		 i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

/*
 * Whether a datagram of len bytes from the source key may be answered
 * at now (ms): its own bucket (udp-rate), then the total one
 * (udp-total-rate).  Returns -1 if so, else UDP_DROP_RATE or
 * UDP_DROP_TOTAL.  The source's entry is one of UDP_RATE_WAYS from its
 * hash on: its own, else a free one, else the one refilled longest ago.
 */
int
scoreboard_udp_admit(struct scoreboard *sb, const uint8_t key[16],
    int64_t now, const struct config *conf, size_t len)
{
	struct udp_rate_entry	*e, *victim = NULL;
	uint32_t		 h = rate_hash(key), w;
	int			 ok;

	if (conf->udp_rate_pps > 0 || conf->udp_rate_bps > 0) {
		for (w = 0; w < UDP_RATE_WAYS; w++) {
			e = &sb->udp_rate[(h + w) % UDP_RATE_SLOTS];
			rate_lock(&e->lock, now);
			if (memcmp(e->key, key, 16) == 0 &&
			    e->bucket.stamp != 0)
				break;
			if (victim == NULL ||
			    e->bucket.stamp < victim->bucket.stamp) {
				if (victim != NULL)
					rate_unlock(&victim->lock);
				victim = e;
			} else
				rate_unlock(&e->lock);
			e = NULL;
		}
		if (e == NULL) {
			e = victim;
			memcpy(e->key, key, 16);
			memset(&e->bucket, 0, sizeof(e->bucket));
		} else if (victim != NULL)
			rate_unlock(&victim->lock);
		ok = udpguard_take(&e->bucket, now, conf->udp_rate_pps,
		    conf->udp_rate_bps, len);
		rate_unlock(&e->lock);
		if (!ok)
			return UDP_DROP_RATE;
	}
	if (conf->udp_total_pps > 0) {
		rate_lock(&sb->udp_total_lock, now);
		ok = udpguard_take(&sb->udp_total, now, conf->udp_total_pps,
		    0, len);
		rate_unlock(&sb->udp_total_lock);
		if (!ok)
			return UDP_DROP_TOTAL;
	}
	return -1;
}
