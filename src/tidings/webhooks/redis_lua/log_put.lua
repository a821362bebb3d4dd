-- Record a delivery in its app's log, keeping the newest ARGV[3] of them.
-- KEYS: log hash (id -> JSON), id list (newest first)
-- ARGV: delivery id, JSON, limit, '1' when the delivery is new
-- A delivery already trimmed out of the log stays out (its updates are dropped).
local known = redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1
if not known and ARGV[4] ~= '1' then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if not known then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[3]) do
    redis.call('HDEL', KEYS[1], redis.call('RPOP', KEYS[2]))
  end
end
return 1
