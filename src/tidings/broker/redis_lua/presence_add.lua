-- Record one connection of a presence member, atomically. Every key is the
-- channel's (one hash tag: one slot on a Redis Cluster).
-- KEYS[1] conns hash   "{node}|{socket}" -> user id
-- KEYS[2] users hash   user id -> number of connections (all nodes)
-- KEYS[3] info hash    user id -> user_info JSON (of the latest connection)
-- ARGV: field, user id, info JSON, member limit (0: none)
-- Returns 2 when the connection was recorded and is the user's first on the
-- channel, 1 when recorded and the user had one already, 0 when this socket was
-- recorded before (nothing changed), -1 when the user is new and the channel
-- already has `limit` members (nothing recorded). The limit check and the add
-- are one step, so two nodes cannot both pass the last free place.
-- The node's own index (which channels it holds connections on) is kept by the
-- caller around this script: it touches another slot.
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0
    and redis.call('HLEN', KEYS[2]) >= limit then
  return -1
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0 -- the same socket again: idempotent
end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
  return 2
end
return 1
