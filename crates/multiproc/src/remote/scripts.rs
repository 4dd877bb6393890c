//! The Lua scripts of the Redis backend: each step that must be atomic on the server (a
//! conditional push, an ack that checks its lease, a lease grant with its fencing token)
//! runs as one script. Every key a script touches is passed in `KEYS`, and all share the
//! namespace's hash tag, so the scripts run on a Redis Cluster too.

/// `KEYS[1]` list, `KEYS[2]` counter (optional); `ARGV[1]` front (0/1), `ARGV[2]` cap (-1:
/// none), `ARGV[3..]` items. 1 if pushed, 0 if it would not fit.
pub(crate) const PUSH: &str = r#"
local n = #ARGV - 2
local cap = tonumber(ARGV[2])
if cap >= 0 and redis.call('LLEN', KEYS[1]) + n > cap then return 0 end
local cmd = 'RPUSH'
if ARGV[1] == '1' then cmd = 'LPUSH' end
for i = 3, #ARGV, 1000 do
  redis.call(cmd, KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
end
if KEYS[2] then redis.call('INCRBY', KEYS[2], n) end
return 1
"#;

/// `KEYS[1]` list; `ARGV` items: removes one occurrence of each, the rest keeping their
/// order, in one pass over the list (where an `LREM` per item is a pass per item). How
/// many were removed.
pub(crate) const REMOVE_EACH: &str = r#"
local want = {}
for i = 1, #ARGV do want[ARGV[i]] = (want[ARGV[i]] or 0) + 1 end
local all = redis.call('LRANGE', KEYS[1], 0, -1)
local keep, removed = {}, 0
for _, v in ipairs(all) do
  local w = want[v]
  if w and w > 0 then
    want[v] = w - 1
    removed = removed + 1
  else
    keep[#keep + 1] = v
  end
end
if removed == 0 then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
for i = 1, #keep, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(keep, i, math.min(i + 999, #keep)))
end
if ttl > 0 and #keep > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return removed
"#;

/// Moves up to `ARGV[1]` more tasks from `KEYS[1]` to `KEYS[2]` (after a blocking first).
pub(crate) const CLAIM_MORE: &str = r#"
local out = {}
for i = 1, tonumber(ARGV[1]) do
  local t = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT')
  if not t then break end
  out[#out + 1] = t
end
return out
"#;

/// `KEYS`: tasks, done, reply; `ARGV`: payload, result, keep (ms).
/// 1 accepted, 2 duplicate, 0 refused (the task is no longer this worker's: its lease
/// lapsed and the reaper took it back). A lapsed lease whose tasks were not taken yet
/// (the worker was cut off, not lost) still acks: nobody else has the task.
pub(crate) const ACK: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return 2 end
redis.call('RPUSH', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return 1
"#;

/// `KEYS`: tasks, queue, delayed; `ARGV`: payload, delay (ms). Whether it was leased.
pub(crate) const NACK: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
local delay = tonumber(ARGV[2])
if delay <= 0 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
else
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[3], t[1] * 1000 + math.floor(t[2] / 1000) + delay, ARGV[1])
end
return 1
"#;

/// `KEYS`: tasks, done, reply; `ARGV`: payload, result, keep (ms). Fails a reaped task.
pub(crate) const REAP_FAIL: &str = r#"
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return 1
"#;

/// `KEYS`: workers, alive, tasks, suspect; `ARGV`: worker. Forgets a reaped worker if it
/// is still lapsed and holds no task (it may have renewed since it was reaped).
pub(crate) const FORGET: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 1 or redis.call('LLEN', KEYS[3]) > 0 then return 0 end
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"#;

/// `KEYS`: delayed, queue. Moves due tasks (at most 1000) to the queue.
pub(crate) const PROMOTE: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 1000)
for _, p in ipairs(due) do
  redis.call('ZREM', KEYS[1], p)
  redis.call('RPUSH', KEYS[2], p)
end
return #due
"#;

/// `KEYS[1]` key; `ARGV`: field ('' : the key itself), has field (0/1), has expected,
/// expected, has new, new. `{1 or 0, the value found}`.
pub(crate) const CAS: &str = r#"
local hash = ARGV[2] == '1'
local cur
if hash then cur = redis.call('HGET', KEYS[1], ARGV[1]) else cur = redis.call('GET', KEYS[1]) end
local ok
if ARGV[3] == '0' then ok = (cur == false) else ok = (cur ~= false and cur == ARGV[4]) end
if not ok then return {0, cur} end
if ARGV[5] == '1' then
  if hash then redis.call('HSET', KEYS[1], ARGV[1], ARGV[6]) else redis.call('SET', KEYS[1], ARGV[6]) end
else
  if hash then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('DEL', KEYS[1]) end
end
return {1, cur}
"#;

/// `KEYS`: holders (zset: holder → expiry ms), fence counter, died flag, fences (hash:
/// holder → fence); `ARGV`: holder, capacity, ttl (ms). `{fence, died}` or nil.
pub(crate) const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, h in ipairs(lapsed) do
  redis.call('ZREM', KEYS[1], h)
  redis.call('HDEL', KEYS[4], h)
  redis.call('SET', KEYS[3], '1')
end
local ttl = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  return {tonumber(redis.call('HGET', KEYS[4], ARGV[1]) or '0'), 0}
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return nil end
local f = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], f)
local died = redis.call('DEL', KEYS[3])
return {f, died}
"#;

/// `KEYS`: holders, fences; `ARGV`: holder. 1 if it held a lease (unexpired), else 0.
pub(crate) const RELEASE: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if not s then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(s) < now then return 0 end
return 1
"#;

/// `KEYS`: holders; `ARGV`: holder, ttl (ms). 1 if extended, 0 if it had lapsed.
pub(crate) const RENEW: &str = r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) < now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"#;

/// `KEYS`: holders, fence counter, fences, target; `ARGV`: fence, value. 1 if written, 0
/// if the fence is stale.
pub(crate) const FENCED_SET: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local all = redis.call('HGETALL', KEYS[3])
for i = 1, #all, 2 do
  if all[i + 1] == ARGV[1] then
    local s = redis.call('ZSCORE', KEYS[1], all[i])
    if s and tonumber(s) >= now then
      redis.call('SET', KEYS[4], ARGV[2])
      return 1
    end
  end
end
return 0
"#;
