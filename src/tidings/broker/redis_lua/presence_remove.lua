-- Forget one connection of a presence member, atomically.
-- KEYS as in presence_add.lua (1 conns, 2 users, 3 info, 4 node index).
-- ARGV: field, user id, channel id
-- Returns 1 when it was the user's last connection on the channel, else 0.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return 0 -- unknown socket, or a socket of another user
end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[4], ARGV[3], -1) <= 0 then
  redis.call('HDEL', KEYS[4], ARGV[3])
end
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
return 0
