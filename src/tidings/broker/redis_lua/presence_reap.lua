-- Remove every connection one node holds on one channel, atomically (the channel's keys only).
-- KEYS as in presence_add.lua (1 conns, 2 users, 3 info).
-- ARGV: node id
-- Returns the user ids whose last connection on the channel was removed.
-- Two nodes reaping the same dead node at once is safe: the second finds nothing.
local prefix = ARGV[1] .. '|'
local fields = redis.call('HGETALL', KEYS[1])
local gone = {}
for i = 1, #fields, 2 do
  local field = fields[i]
  if string.sub(field, 1, #prefix) == prefix then
    local user = fields[i + 1]
    redis.call('HDEL', KEYS[1], field)
    if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
      redis.call('HDEL', KEYS[2], user)
      redis.call('HDEL', KEYS[3], user)
      table.insert(gone, user)
    end
  end
end
return gone
