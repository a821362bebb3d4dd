-- Forget one connection of a presence member, atomically (the channel's keys only).
-- KEYS as in presence_add.lua (1 conns, 2 users, 3 info).
-- ARGV: field, user id
-- Returns 1 when it was the user's last connection on the channel, 0 when the
-- user has others, -1 when the socket was unknown (or another user's): nothing removed.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return -1
end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[2])
  redis.call('HDEL', KEYS[3], ARGV[2])
  return 1
end
return 0
