/*
 * The scoreboard's memory, and the totals read from it.
 */

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <string.h>


#include "clock.h"
#include "scoreboard.h"

/*
 * Shared, anonymous, and mapped before the first fork: every worker
 * sees the same pages.  Only the pages of slots in use are ever touched,
 * so the table's size costs address space, not memory.
 */
struct scoreboard *
scoreboard_create(void)
{
	struct scoreboard	*sb;

	sb = mmap(NULL, sizeof(*sb), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sb == MAP_FAILED)
		return NULL;
	sb->started = clock_ms();
	return sb;
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

void
scoreboard_totals(const struct scoreboard *sb, struct totals *t)
{
	uint32_t	 i, high;

	t->connections = sb->retired_connections;
	t->bytes_in = sb->retired_bytes_in;
	t->bytes_out = sb->retired_bytes_out;
	t->timeouts = sb->retired_timeouts;
	t->refused = sb->retired_refused;
	t->errors = sb->retired_errors;
	high = __atomic_load_n(&sb->high_water, __ATOMIC_ACQUIRE);
	for (i = 0; i < high; i++) {
		const struct slot *s = &sb->slots[i];

		t->connections += __atomic_load_n(&s->connections,
		    __ATOMIC_RELAXED);
		t->bytes_in += __atomic_load_n(&s->bytes_in, __ATOMIC_RELAXED);
		t->bytes_out += __atomic_load_n(&s->bytes_out,
		    __ATOMIC_RELAXED);
		t->timeouts += __atomic_load_n(&s->timeouts, __ATOMIC_RELAXED);
		t->refused += __atomic_load_n(&s->refused, __ATOMIC_RELAXED);
		t->errors += __atomic_load_n(&s->errors, __ATOMIC_RELAXED);
	}
}

void
scoreboard_udp_totals(const struct scoreboard *sb, struct udp_totals *t)
{
	uint32_t	 i, high, r;

	t->datagrams_in = sb->retired_datagrams_in;
	t->datagrams_out = sb->retired_datagrams_out;
	t->bytes_in = sb->retired_udp_bytes_in;
	t->bytes_out = sb->retired_udp_bytes_out;
	for (r = 0; r < UDP_DROP_NREASONS; r++)
		t->drops[r] = sb->retired_drops[r];
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
