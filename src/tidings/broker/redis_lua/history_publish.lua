-- Keep one publication in a channel's history and publish it, atomically.
--
-- KEYS[1] the channel's stream (p:hist:{a:c}), KEYS[2] its position hash
-- (p:hist-meta:{a:c}: serial, stream_id, o:<node> = last sequence number kept
-- from that node), KEYS[3] the cache key (p:cache:{a:c}) or the stream key again
-- when the channel is not a cache channel (every key of a script is declared).
-- ARGV: 1 payload (redis_codec), 2 history size, 3 history ttl (s), 4 a fresh
-- stream id (used when the channel has none), 5 position ttl (s), 6 origin node,
-- 7 origin sequence number, 8 pub/sub channel, 9 cache ttl (s) or "" (no cache),
-- 10 "1" on a Redis Cluster (SPUBLISH: sharded pub/sub, the channel in the keys' slot).
--
-- Returns {serial, stream_id}, or {0, stream_id} when this node's sequence
-- number was kept already (a batch sent again after a failure Redis had in
-- fact executed): nothing is stored or published twice.
local meta = KEYS[2]
local origin = 'o:' .. ARGV[6]
local seen = redis.call('HGET', meta, origin)
local stream_id = redis.call('HGET', meta, 'stream_id')
-- Sequence numbers pass 2^53 (nanoseconds): compare their digits, not Lua numbers.
local seq = ARGV[7]
if seen and stream_id and (#seen > #seq or (#seen == #seq and seen >= seq)) then
  return {0, stream_id}
end
if not stream_id then
  -- A new stream: events of a lost one (if any outlived their position) go.
  stream_id = ARGV[4]
  redis.call('DEL', KEYS[1])
  redis.call('HSET', meta, 'stream_id', stream_id)
end
local serial = redis.call('HINCRBY', meta, 'serial', 1)
redis.call('HSET', meta, origin, ARGV[7])
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
-- The entry id is the serial, so "after serial N" is XRANGE (N+1)-0.
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], serial .. '-0', 'p', ARGV[1], 't', ms)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', meta, ARGV[5])
if ARGV[9] ~= '' then
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[9])
end
local publish = ARGV[10] == '1' and 'SPUBLISH' or 'PUBLISH'
redis.call(publish, ARGV[8], 'h' .. serial .. ':' .. stream_id .. ':' .. ms .. ':' .. ARGV[1])
return {serial, stream_id}
