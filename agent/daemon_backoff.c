/* Reconnect delays of the agent daemon: exponential, capped, with jitter (pure). */
#include "agent/daemon.h"

int ebb_daemon_backoff_next(int prev_ms, int min_ms, int max_ms, uint32_t rnd)
{
    if (min_ms < 1)
        min_ms = 1;
    if (max_ms < min_ms)
        max_ms = min_ms;
    long next = prev_ms <= 0 ? min_ms : (long)prev_ms * 2;
    if (next < min_ms)
        next = min_ms;
    if (next > max_ms)
        next = max_ms;
    /* Jitter: up to a quarter less, never below min. */
    long spread = next / 4;
    if (spread > 0)
        next -= (long)(rnd % (uint32_t)(spread + 1));
    return next < min_ms ? min_ms : (int)next;
}
