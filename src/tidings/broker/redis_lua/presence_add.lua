-- Record one connection of a presence member, atomically.
-- KEYS[1] conns hash   "{node}|{socket}" -> user id
-- KEYS[2] users hash   user id -> number of connections (all nodes)
-- KEYS[3] info hash    user id -> user_info JSON (of the latest connection)
-- KEYS[4] node index   "{app}:{channel}" -> this node's connections there
-- KEYS[5] nodes set    every node id that ever held members
-- ARGV: field, user id, info JSON, channel id, node id, member limit (0: none)
-- Returns 1 when the user had no connection on the channel before, 0 when it
-- had (or this socket was recorded already), -1 when the user is new and the
-- channel already has `limit` members (nothing recorded). The limit check and
-- the add are one step, so two nodes cannot both pass the last free place.
local limit = tonumber(ARGV[6])
if limit > 0 and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0
    and redis.call('HLEN', KEYS[2]) >= limit then
  return -1
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0 -- the same socket again: idempotent
end
redis.call('HINCRBY', KEYS[4], ARGV[4], 1)
redis.call('SADD', KEYS[5], ARGV[5])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  return 1
end
return 0
